namespace ManagedEmbed.Testing;

/// <summary>Vocabularies derived for the seed-model fixtures (the rule of tools/gen_seed_fixtures.py mpnet_vocab).</summary>
internal static class SeedVocab
{
    /// <summary>SHA-256 of the published all-mpnet-base-v2 vocab.txt (../shared/models/PUBLISHED-CONFIGS.md).</summary>
    public const string MpnetSha256 = "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada";

    /// <summary>
    /// Writes all-mpnet-base-v2's vocab.txt layout (&lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt;, the BERT-uncased
    /// tokens, &lt;mask&gt;) from a BERT vocab.txt; from all-MiniLM-L6-v2's it is byte-identical to the published file.
    /// </summary>
    public static string WriteMpnet(string bertVocabPath, string outPath)
    {
        var lines = File.ReadAllText(bertVocabPath).Split('\n').ToList();
        if (lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        File.WriteAllText(outPath, string.Join("\n", new[] { "<s>", "<pad>", "</s>", "<unk>" }.Concat(lines).Append("<mask>")) + "\n");
        return outPath;
    }
}
