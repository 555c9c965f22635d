using System.Text;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Store;

/// <summary>A directory entry of `.chunks/xxxx/` that passes PBS 3.2.4's chunk-name test.</summary>
/// <param name="Name">File name (64 hex digits, or 70 bytes ending in e.g. `.0.bad`).</param>
/// <param name="Digest">The digest spelled by the first 64 characters.</param>
/// <param name="IsBad">The name ends with `.bad`.</param>
/// <param name="PrefixIndex">Index 0..65535 of the prefix directory the entry was found in.</param>
public readonly record struct ChunkEntry(string Name, ChunkDigest Digest, bool IsBad, int PrefixIndex)
{
    public string PrefixDirName => ChunkLayout.PrefixDirName(PrefixIndex);

    /// <summary>The chunk's suffix after the 64 hex digits (e.g. <c>.0.bad</c>), as raw bytes.</summary>
    public byte[] Suffix => Encoding.UTF8.GetBytes(Name[64..]);
}
