namespace ManagedEmbed.Hub;

/// <summary>One file of a model repository to download.</summary>
/// <param name="Path">Path inside the repository, with '/' separators (e.g. <c>1_Pooling/config.json</c>).</param>
/// <param name="Required">When false, a 404 from the server skips the file instead of failing the pull.</param>
/// <param name="Sha256">Published SHA-256 (lowercase hex) the downloaded bytes must have, or null when none is pinned.</param>
/// <param name="Size">Published size in bytes, or null when none is pinned.</param>
public sealed record HubFile(string Path, bool Required, string? Sha256 = null, long? Size = null);

/// <summary>A model repository at a pinned revision, with the files that make up its sentence-transformers directory.</summary>
/// <param name="RepoId">The hub repository id, <c>org/name</c>.</param>
/// <param name="Revision">The git revision (a commit hash for known models) the resolve URLs use.</param>
/// <param name="Files">The files to fetch.</param>
public sealed record HubModel(string RepoId, string Revision, IReadOnlyList<HubFile> Files);

/// <summary>Models whose revision and weight digests are pinned in code, plus the default file list for any other repository.</summary>
public static class HubModels
{
    /// <summary>The model the CLI uses when no --model is given.</summary>
    public const string DefaultRepoId = "sentence-transformers/all-MiniLM-L6-v2";

    /// <summary>all-MiniLM-L6-v2 as pinned in the model table (weights/models.json): revision and every file's digest.</summary>
    public static HubModel AllMiniLmL6V2 => PinnedModels.TryGet(DefaultRepoId)!.Hub;

    /// <summary>The pinned entry for <paramref name="repoId"/> (case-insensitive, as on the hub), or null.</summary>
    public static HubModel? TryGetKnown(string repoId) => PinnedModels.TryGet(repoId)?.Hub;

    /// <summary>
    /// The sentence-transformers file list for a repository that is not pinned in code: config.json,
    /// model.safetensors and tokenizer_config.json are required, and so is one of vocab.txt / tokenizer.json
    /// (checked after the download); the pipeline files are optional because plain BERT repositories lack them.
    /// </summary>
    public static HubModel ForUnknown(string repoId, string revision) => new(
        repoId,
        revision,
        [
            new("config.json", true),
            new("model.safetensors", true),
            new("vocab.txt", false),
            new("tokenizer.json", false),
            new("tokenizer_config.json", true),
            new("special_tokens_map.json", false),
            new("modules.json", false),
            new("sentence_bert_config.json", false),
            new("config_sentence_transformers.json", false),
            new("1_Pooling/config.json", false),
        ]);

    /// <summary>
    /// Checks that <paramref name="repoId"/> is <c>org/name</c> with hub-legal characters, so it can be used in a URL
    /// and as two path segments of the cache without escaping the cache directory.
    /// </summary>
    public static void ValidateRepoId(string repoId)
    {
        string[] parts = repoId.Split('/');
        if (parts.Length != 2 || !IsSegment(parts[0]) || !IsSegment(parts[1]))
            throw new ManagedEmbedException($"'{repoId}' is not a model repository id of the form org/name (letters, digits, '-', '_', '.')");
    }

    /// <summary>True when <paramref name="s"/> looks like a repository id (<c>org/name</c>) rather than a path.</summary>
    public static bool LooksLikeRepoId(string s)
    {
        string[] parts = s.Split('/');
        return parts.Length == 2 && IsSegment(parts[0]) && IsSegment(parts[1]);
    }

    private static bool IsSegment(string s)
    {
        if (s.Length is 0 or > 96 || s.Contains("..", StringComparison.Ordinal) || !char.IsAsciiLetterOrDigit(s[0])) return false;
        foreach (char c in s)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) return false;
        return true;
    }
}
