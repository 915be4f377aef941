namespace ManagedEmbed.Collections;

/// <summary>The search index over a segment's rows (label = row number).</summary>
internal sealed class SegmentIndex
{
    public string Kind { get; private init; } = "none";

    public static SegmentIndex? Load(string dir, SegmentInfo s, DistanceSpace space, int dim) => null;

    public IEnumerable<int> Search(float[] q, int k) => [];

    public static (string Kind, long Bytes, uint Crc, SegmentIndex? Index) Build(string path, List<Rec> rows, DistanceSpace space, int dim, CollectionOptions opts)
    {
        File.WriteAllBytes(path, []);
        FileSys.FsyncFile(path);
        return ("none", 0, Crc32C.Compute([]), null);
    }
}
