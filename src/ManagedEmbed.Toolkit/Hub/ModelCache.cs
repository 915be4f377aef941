namespace ManagedEmbed.Hub;

/// <summary>
/// Where pulled models live: <c>$XDG_CACHE_HOME/managedembed/&lt;org&gt;/&lt;name&gt;</c>, or
/// <c>~/.cache/managedembed/&lt;org&gt;/&lt;name&gt;</c> when XDG_CACHE_HOME is unset or not absolute.
/// </summary>
public static class ModelCache
{
    /// <summary>The name of the manifest <c>membed pull</c> writes into every model directory it completes.</summary>
    public const string ManifestName = ".membed-pull.json";

    /// <summary>The cache root (<c>…/managedembed</c>); it need not exist.</summary>
    public static string Root
    {
        get
        {
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            // The XDG spec says relative values are invalid and must be ignored.
            if (!string.IsNullOrEmpty(xdg) && Path.IsPathFullyQualified(xdg))
                return Path.Combine(xdg, "managedembed");
            string home = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h
                ? h
                : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(home))
                throw new ManagedEmbedException("cannot locate the model cache: neither XDG_CACHE_HOME nor HOME is set; give a model directory instead");
            return Path.Combine(home, ".cache", "managedembed");
        }
    }

    /// <summary>The cache directory of repository <paramref name="repoId"/> (<c>org/name</c>).</summary>
    public static string DirectoryFor(string repoId)
    {
        HubModels.ValidateRepoId(repoId);
        string[] parts = repoId.Split('/');
        return Path.Combine(Root, parts[0], parts[1]);
    }
}
