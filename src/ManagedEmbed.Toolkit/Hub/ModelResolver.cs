namespace ManagedEmbed.Hub;

/// <summary>
/// Turns a <c>--model</c> value into a model directory: an existing directory; or a pulled model's repository id
/// (<c>org/name</c>, or a bare <c>name</c> meaning <c>sentence-transformers/name</c>, as sentence-transformers does)
/// found in <see cref="ModelCache"/>; or, when no value is given, <see cref="HubModels.DefaultRepoId"/> from the cache.
/// When the model is absent, the error names the exact <c>membed pull</c> command that fetches it.
/// </summary>
public static class ModelResolver
{
    /// <summary>Resolves <paramref name="model"/> (null = the default model) to the full path of a model directory.</summary>
    public static string Resolve(string? model)
    {
        if (model is null)
        {
            string dir = ModelCache.DirectoryFor(HubModels.DefaultRepoId);
            if (Directory.Exists(dir)) return dir;
            throw new ManagedEmbedException(
                $"no --model given and the default model {HubModels.DefaultRepoId} is not in the cache ({dir}); " +
                $"fetch it with 'membed pull {HubModels.DefaultRepoId}', or pass --model DIR with a model directory copied from elsewhere");
        }
        if (model.Length == 0) throw new ManagedEmbedException("option --model is empty");
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        if (File.Exists(model)) throw new ManagedEmbedException($"--model '{model}' is a file; it must be a model directory or a pulled model's name");

        string? repo = HubModels.LooksLikeRepoId(model) ? model
            : !model.Contains('/') && HubModels.LooksLikeRepoId("sentence-transformers/" + model) ? "sentence-transformers/" + model
            : null;
        if (repo is null) throw new ManagedEmbedException($"model directory '{model}' does not exist");
        string cached = ModelCache.DirectoryFor(repo);
        if (Directory.Exists(cached)) return cached;
        throw new ManagedEmbedException(
            $"model '{model}' is neither a directory nor in the cache ({cached}); fetch it with 'membed pull {repo}', or pass --model DIR");
    }
}
