using System.Text.Json.Nodes;

namespace PbsDatastore.Core.Maintenance;

/// <summary>PBS's verify skip rules (spec §8.2): <c>ignore-verified</c> and <c>outdated-after</c>.</summary>
public static class VerifyFilter
{
    /// <summary>
    /// Whether a snapshot whose manifest carries <paramref name="verifyState"/> (<c>unprotected.verify_state</c>)
    /// is verified. With <paramref name="ignoreVerified"/>, a parseable state means skip, unless
    /// <paramref name="outdatedAfterDays"/> is set and more whole days than that passed since that verify started.
    /// </summary>
    public static bool ShouldVerify(JsonNode? verifyState, bool ignoreVerified, int? outdatedAfterDays, long now)
    {
        if (!ignoreVerified)
            return true;
        if (ParseVerifyState(verifyState) is not { } state)
            return true;
        if (outdatedAfterDays is not int days)
            return false;
        return (now - state.Upid.StartTime) / 86400 > days;
    }

    /// <summary>A <c>verify_state</c> as PBS deserialises it: state ok/failed and a valid UPID; null otherwise.</summary>
    public static (bool Ok, Upid Upid)? ParseVerifyState(JsonNode? verifyState)
    {
        if (verifyState is not JsonObject o
            || o["state"] is not JsonValue s || !s.TryGetValue<string>(out var state) || state is not ("ok" or "failed")
            || o["upid"] is not JsonValue u || !u.TryGetValue<string>(out var text) || !Upid.TryParse(text, out var upid))
            return null;
        return (state == "ok", upid!);
    }
}
