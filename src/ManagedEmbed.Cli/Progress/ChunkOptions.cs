namespace ManagedEmbed.Cli;

/// <summary>`--chunk TOKENS [--overlap TOKENS]` of search: long documents as overlapping token windows.</summary>
internal static class ChunkOptions
{
    /// <summary>--chunk: tokens per window, or null (one vector per document). Checked against the other options.</summary>
    public static int? Tokens(Args a)
    {
        if (!a.Has("--chunk"))
        {
            if (a.Has("--overlap")) throw new ManagedEmbedException("--overlap needs --chunk TOKENS");
            return null;
        }
        if (a.Has("--load") || a.Has("--save"))
            throw new ManagedEmbedException("--chunk cannot be combined with --save or --load (a saved index holds one vector per document)");
        return a.GetInt("--chunk", 0, 1, 1 << 20);
    }

    /// <summary>--overlap: tokens shared by consecutive windows (default 0), less than --chunk.</summary>
    public static int Overlap(Args a)
    {
        if (!a.Has("--overlap")) return 0;
        int chunk = a.GetInt("--chunk", 0, 1, 1 << 20);
        return a.GetInt("--overlap", 0, 0, chunk - 1);
    }
}
