namespace ManagedEmbed.Hub;

/// <summary>
/// Turns a <c>--model</c> value into a model directory: an existing directory; or a hub model's repository id
/// (<c>org/name</c>, or a bare <c>name</c> meaning <c>sentence-transformers/name</c>, as sentence-transformers does)
/// found in <see cref="ModelCache"/>; or, when no value is given, <see cref="HubModels.DefaultRepoId"/> from the cache.
/// A hub model that is not cached is fetched on first use through <c>fetch</c> (as sentence-transformers does),
/// unless <see cref="ModelPuller.OfflineMode"/> is set or no fetcher is given: then a
/// <see cref="ModelNotFoundException"/> names the repository id, so a front end can say how to fetch it.
/// </summary>
public static class ModelResolver
{
    /// <summary>
    /// Resolves <paramref name="model"/> (null = the default model) to the full path of a model directory.
    /// <paramref name="fetch"/>, when given, downloads a missing hub model (repository id → directory).
    /// </summary>
    public static string Resolve(string? model, Func<string, string>? fetch = null)
    {
        if (model is not null)
        {
            if (model.Length == 0) throw new ManagedEmbedException("the model name is empty");
            if (Directory.Exists(model)) return Path.GetFullPath(model);
            if (File.Exists(model)) throw new ManagedEmbedException($"model '{model}' is a file; it must be a model directory or a hub model's name");
        }
        string? repo = model is null ? HubModels.DefaultRepoId
            : HubModels.LooksLikeRepoId(model) ? model
            : !model.Contains('/') && HubModels.LooksLikeRepoId("sentence-transformers/" + model) ? "sentence-transformers/" + model
            : null;
        if (repo is null) throw new ManagedEmbedException($"model directory '{model}' does not exist");
        string cached = ModelCache.DirectoryFor(repo);
        if (Directory.Exists(cached)) return cached;

        string what = model is null ? $"no model given and the default model {repo}" : $"model '{model}' is not a directory, and it";
        if (fetch is not null && !ModelPuller.OfflineMode)
        {
            try { return fetch(repo); }
            catch (ManagedEmbedException e)
            {
                // A typo'd local path looks like org/name too, so name both readings of the value.
                throw new ModelNotFoundException(repo, cached, model is null
                    ? $"{repo} is not in the cache and could not be fetched: {e.Message}"
                    : $"'{model}' is not a local directory, and {repo} is not in the cache and could not be fetched: {e.Message}", e);
            }
        }
        throw new ModelNotFoundException(repo, cached,
            $"{what} is not in the cache ({cached}){(ModelPuller.OfflineMode ? " (offline mode: MEMBED_OFFLINE/HF_HUB_OFFLINE is set)" : "")}");
    }
}
