namespace PbsDatastore.Core.Maintenance;

/// <summary>PBS's renaming of a corrupt chunk to <c>&lt;digest&gt;.&lt;n&gt;.bad</c> (spec §8.5).</summary>
public static class CorruptChunk
{
    /// <summary>
    /// Renames <paramref name="chunkPath"/> to the first free <c>.0.bad</c> … <c>.8.bad</c>, else over <c>.9.bad</c>.
    /// Returns the new path; null when the chunk was already gone (silently, as PBS) or the rename failed (logged).
    /// </summary>
    public static string? Rename(string chunkPath, ITaskState task)
    {
        var target = BadPath(chunkPath);
        try
        {
            File.Move(chunkPath, target, overwrite: true);
            task.Log($"corrupted chunk renamed to \"{target}\"");
            return target;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            task.Log($"could not rename corrupted chunk \"{chunkPath}\" - {e.Message}");
            return null;
        }
    }

    /// <summary>The name the next rename of <paramref name="chunkPath"/> would take.</summary>
    public static string BadPath(string chunkPath)
    {
        for (var n = 0; ; n++)
        {
            var candidate = $"{chunkPath}.{n}.bad";
            if (n == 9 || !File.Exists(candidate))
                return candidate;
        }
    }
}
