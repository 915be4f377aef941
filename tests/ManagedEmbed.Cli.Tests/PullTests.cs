using System.Net;
using System.Net.Sockets;
using System.Text;
using ManagedEmbed.Hub;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>`membed pull` against a local hub on 127.0.0.1: good, corrupted, interrupted and offline downloads.</summary>
public sealed class PullTests : IDisposable
{
    private const string Repo = "test-org/tiny-model";
    private const string Rev = "0123456789abcdef0123456789abcdef01234567";
    private readonly string _root = TestPaths.NewTempDir("membed-pull");

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    /// <summary>A synthetic sentence-transformers directory: small JSON/text files and 300 KB of seeded "weights".</summary>
    private static Dictionary<string, byte[]> SyntheticModel(int weightBytes = 300_000)
    {
        var weights = new byte[weightBytes];
        new Random(7).NextBytes(weights);
        static byte[] U(string s) => Encoding.UTF8.GetBytes(s);
        return new Dictionary<string, byte[]>
        {
            ["config.json"] = U("{\"hidden_size\": 8}"),
            ["model.safetensors"] = weights,
            ["vocab.txt"] = U("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n"),
            ["tokenizer.json"] = U("{}"),
            ["tokenizer_config.json"] = U("{\"do_lower_case\": true}"),
            ["special_tokens_map.json"] = U("{}"),
            ["modules.json"] = U("[]"),
            ["sentence_bert_config.json"] = U("{\"max_seq_length\": 16}"),
            ["config_sentence_transformers.json"] = U("{}"),
            ["1_Pooling/config.json"] = U("{\"pooling_mode_mean_tokens\": true}"),
        };
    }

    private LocalHubServer Server(Dictionary<string, byte[]> files, string repo = Repo, string rev = Rev)
    {
        var s = new LocalHubServer(repo, rev, files);
        s.Lfs.Add("model.safetensors");
        return s;
    }

    private PullOptions Options(LocalHubServer s, string? dir = null, string? sha = null, string? rev = Rev) => new()
    {
        Endpoint = s.Endpoint,
        Revision = rev,
        TargetDirectory = dir ?? Path.Combine(_root, "models", "tiny-model"),
        ModelSha256 = sha,
        StallTimeout = TimeSpan.FromSeconds(20),
    };

    private static void AssertSameFiles(Dictionary<string, byte[]> expected, string dir)
    {
        foreach (var (path, bytes) in expected)
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(dir, path)));
        Assert.True(File.Exists(Path.Combine(dir, ModelCache.ManifestName)));
        Assert.Empty(Directory.EnumerateFiles(dir, "*.part", SearchOption.AllDirectories));
    }

    /// <summary>Everything in the parent directory (no lock, no staging or half-written model left).</summary>
    private string[] Leftovers() =>
        Directory.Exists(Path.Combine(_root, "models"))
            ? Directory.EnumerateFileSystemEntries(Path.Combine(_root, "models")).Select(p => Path.GetFileName(p)!)
                .ToArray() // no lock file either (issue finding A.9: every pull left .NAME.lock)
            : [];

    [Fact]
    public async Task GoodDownload_WritesCompleteDirectory_AndSecondPullIsANoOp()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        var r = await ModelPuller.PullAsync(Repo, Options(s));
        Assert.False(r.AlreadyPresent);
        AssertSameFiles(files, r.Directory);
        Assert.Equal(["tiny-model"], Leftovers());
        // The LFS file went through the redirect, like the hub's CDN hop.
        Assert.Contains(s.Requests, q => q.Path == "/cdn/model.safetensors");

        int before = s.Requests.Count;
        var again = await ModelPuller.PullAsync(Repo, Options(s));
        Assert.True(again.AlreadyPresent);
        Assert.Equal(before, s.Requests.Count);
    }

    [Fact]
    public async Task CorruptedBody_IsRejected_AndNothingIsLeft()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        s.Corrupt.Add("model.safetensors"); // X-Linked-Etag announces the true digest, the bytes differ
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        Assert.Contains("failed verification", e.Message);
        Assert.Contains(LocalHubServer.Sha256Hex(files["model.safetensors"]), e.Message);
        Assert.Empty(Leftovers());
    }

    [Fact]
    public async Task PinnedDigestOption_Mismatch_IsRejected()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        string wrong = new('a', 64);
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s, sha: wrong)));
        Assert.Contains("expected " + wrong, e.Message);
        Assert.Empty(Leftovers());
    }

    [Fact]
    public async Task NoDigestAnywhere_IsRefused_UntilSha256IsGiven()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        s.SendLinkedEtag = false;
        var e = await Assert.ThrowsAsync<UnpinnedWeightsException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        Assert.Equal((Repo, Rev), (e.RepoId, e.Revision));
        LibraryWording.AssertNoCliWords(e.Message); // the CLI adds "pass --sha256 HEX" (Cli_AddsTheHintsTheLibraryLeavesOut)
        Assert.False(Directory.Exists(Path.Combine(_root, "models", "tiny-model")));

        var r = await ModelPuller.PullAsync(Repo, Options(s, sha: LocalHubServer.Sha256Hex(files["model.safetensors"]).ToUpperInvariant()));
        AssertSameFiles(files, r.Directory);
    }

    [Fact]
    public async Task KnownModel_IsVerifiedAgainstTheBuiltInTable_NotTheServersClaim()
    {
        // A server (or mirror) that serves other bytes for all-MiniLM-L6-v2 at the pinned revision, with a matching
        // X-Linked-Etag: the hard-coded published digest must still reject it.
        var files = PublishedMiniLmFiles(SyntheticModel()["model.safetensors"]);
        using var s = Server(files, HubModels.DefaultRepoId, HubModels.AllMiniLmL6V2.Revision);
        var opts = new PullOptions { Endpoint = s.Endpoint, TargetDirectory = Path.Combine(_root, "models", "tiny-model") };
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(HubModels.DefaultRepoId, opts));
        Assert.Contains("published size for sentence-transformers/all-MiniLM-L6-v2@1110a243fdf4706b3f48f1d95db1a4f5529b4d41 is 90,868,376", e.Message);
        Assert.DoesNotContain(s.Requests, q => q.Path == "/cdn/model.safetensors" && q.Method == "GET" && q.Range is not null);
        Assert.Contains($"/{HubModels.DefaultRepoId}/resolve/1110a243fdf4706b3f48f1d95db1a4f5529b4d41/config.json",
            s.Requests.Select(r => r.Path));
        Assert.Empty(Leftovers());
    }

    /// <summary>The published all-MiniLM-L6-v2 files from ../shared, with <paramref name="weights"/> as model.safetensors.</summary>
    private static Dictionary<string, byte[]> PublishedMiniLmFiles(byte[] weights)
    {
        var d = new Dictionary<string, byte[]> { ["model.safetensors"] = weights };
        foreach (string f in (string[])["config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                     "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"])
            d[f] = File.ReadAllBytes(Path.Combine(TestPaths.MiniLm, f));
        return d;
    }

    [Fact]
    public async Task KnownModel_MirrorWithoutNormalize_IsRejected_EveryPinnedFileIsVerified()
    {
        // Issue finding A.7: a mirror serving a modules.json without Normalize installed with exit 0 and gave
        // embeddings of norm 5.73. Every file of a pinned model has a pinned digest now.
        var files = PublishedMiniLmFiles(SyntheticModel()["model.safetensors"]);
        files["modules.json"] = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(files["modules.json"])
            .Replace(",\n  {\n    \"idx\": 2,\n    \"name\": \"2\",\n    \"path\": \"2_Normalize\",\n    \"type\": \"sentence_transformers.models.Normalize\"\n  }", ""));
        Assert.DoesNotContain("Normalize", System.Text.Encoding.UTF8.GetString(files["modules.json"]));
        using var s = Server(files, HubModels.DefaultRepoId, HubModels.AllMiniLmL6V2.Revision);
        var opts = new PullOptions { Endpoint = s.Endpoint, TargetDirectory = Path.Combine(_root, "models", "tiny-model") };
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(HubModels.DefaultRepoId, opts));
        Assert.StartsWith("modules.json ", e.Message); // its pinned size, then its pinned SHA-256, reject it
        Assert.Contains("nothing was installed", e.Message);
        Assert.False(Directory.Exists(opts.TargetDirectory));
        Assert.Empty(Leftovers());
    }

    [Fact]
    public async Task EndlessSmallFile_IsCutOffAtTheCap_AndNothingIsLeft()
    {
        // Issue finding A.5: an endless config.json wrote 1.34 GB in 4 s. A 65 MiB config is refused past the cap.
        var files = SyntheticModel();
        files["config.json"] = new byte[ModelPuller.MaxSmallFileBytes + 1];
        using var s = Server(files);
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("67,108,864", e.Message);
        Assert.Empty(Leftovers());
    }

    [Fact]
    public async Task KnownModel_RightSizeWrongBytes_IsRejectedByThePublishedDigest()
    {
        var files = PublishedMiniLmFiles(SyntheticModel(weightBytes: 90_868_376)["model.safetensors"]);
        using var s = Server(files, HubModels.DefaultRepoId, HubModels.AllMiniLmL6V2.Revision);
        var opts = new PullOptions { Endpoint = s.Endpoint, TargetDirectory = Path.Combine(_root, "models", "tiny-model") };
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(HubModels.DefaultRepoId, opts));
        Assert.Contains("expected 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", e.Message);
        Assert.Empty(Leftovers());
    }

    [Fact]
    public async Task InterruptedDownload_ResumesWithRange()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        s.DropAfter["model.safetensors"] = 120_000;
        s.DropTimes["model.safetensors"] = 1;
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        Assert.IsType<TransferInterruptedException>(e); // the one failure that keeps the staging directory
        Assert.Contains("interrupted", e.Message);
        Assert.Contains("run the same command again to resume", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_root, "models", "tiny-model"))); // no half model
        string part = Path.Combine(_root, "models", ".tiny-model.partial", "model.safetensors.part");
        Assert.Equal(120_000, new FileInfo(part).Length);

        var r = await ModelPuller.PullAsync(Repo, Options(s));
        AssertSameFiles(files, r.Directory);
        Assert.Contains(s.Requests, q => q.Path == "/cdn/model.safetensors" && q.Range == "bytes=120000-");
        Assert.Equal(["tiny-model"], Leftovers());
        // Files completed before the interruption were not fetched again.
        Assert.Equal(1, s.Requests.Count(q => q.Path.EndsWith("/config.json", StringComparison.Ordinal) && !q.Path.Contains("Pooling")));
    }

    [Fact]
    public async Task InterruptedDownload_ServerWithoutRange_RestartsFromZero()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        s.SupportRange = false;
        s.DropAfter["model.safetensors"] = 50_000;
        s.DropTimes["model.safetensors"] = 1;
        await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        var r = await ModelPuller.PullAsync(Repo, Options(s));
        AssertSameFiles(files, r.Directory);
    }

    [Fact]
    public async Task CorruptedAfterResume_IsStillRejected()
    {
        // The digest covers the whole file, including the bytes kept from the interrupted run.
        var files = SyntheticModel();
        using var s = Server(files);
        s.DropAfter["model.safetensors"] = 200_000;
        s.DropTimes["model.safetensors"] = 1;
        s.Corrupt.Add("model.safetensors");
        await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        s.Corrupt.Clear(); // the flipped byte (offset 150,000) is in the kept prefix
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        Assert.Contains("failed verification", e.Message);
        Assert.Empty(Leftovers());
    }

    [Fact]
    public async Task OptionalFileMissing_IsSkipped_RequiredFileMissing_FailsCleanly()
    {
        var files = SyntheticModel();
        files.Remove("config_sentence_transformers.json");
        using (var s = Server(files))
        {
            var r = await ModelPuller.PullAsync(Repo, Options(s));
            Assert.DoesNotContain("config_sentence_transformers.json", r.Files);
            AssertSameFiles(files, r.Directory);
        }
        Directory.Delete(Path.Combine(_root, "models"), true);

        files.Remove("tokenizer_config.json");
        using (var s = Server(files))
        {
            var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, Options(s)));
            Assert.Contains("tokenizer_config.json not found", e.Message);
            Assert.Empty(Leftovers());
        }
    }

    [Fact]
    public async Task Unreachable_GivesTheOfflineMessage()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop(); // nothing listens there now: connection refused
        var opts = new PullOptions { Endpoint = new Uri($"http://127.0.0.1:{port}"), Revision = Rev, TargetDirectory = Path.Combine(_root, "models", "tiny-model") };
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, opts));
        Assert.IsType<SourceUnreachableException>(e); // typed, so the NuGet fallback needs no message matching
        Assert.Contains("cannot reach", e.Message);
        Assert.Equal(Repo, ((SourceUnreachableException)e).RepoId);
        LibraryWording.AssertNoCliWords(e.Message);
        Assert.Empty(Leftovers());
    }

    [Theory]
    [InlineData("http://example.com")]
    [InlineData("ftp://127.0.0.1")]
    public async Task NonHttpsEndpoint_IsRefused(string endpoint)
    {
        var opts = new PullOptions { Endpoint = new Uri(endpoint), TargetDirectory = Path.Combine(_root, "m") };
        var e = await Assert.ThrowsAnyAsync<ManagedEmbedException>(() => ModelPuller.PullAsync(Repo, opts));
        Assert.Contains("https", e.Message);
    }

    [Theory]
    [InlineData("no-slash")]
    [InlineData("a/b/c")]
    [InlineData("../etc")]
    [InlineData("org/..")]
    [InlineData("org/na me")]
    public void BadRepoIds_AreRejected(string id) =>
        Assert.Throws<ManagedEmbedException>(() => HubModels.ValidateRepoId(id));

    [Fact]
    public async Task ExistingForeignDirectory_IsNotOverwritten()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        string dir = Path.Combine(_root, "models", "tiny-model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "mine.txt"), "keep");
        var e = await Assert.ThrowsAsync<TargetDirectoryConflictException>(() => ModelPuller.PullAsync(Repo, Options(s)));
        Assert.Contains("not written by a model pull", e.Message);
        Assert.Equal(dir, e.Directory);
        LibraryWording.AssertNoCliWords(e.Message);
        Assert.Equal("keep", File.ReadAllText(Path.Combine(dir, "mine.txt")));
    }

    [Fact]
    public void ResolveUrl_HasTheHubShape() =>
        Assert.Equal("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/1110a243fdf4706b3f48f1d95db1a4f5529b4d41/1_Pooling/config.json",
            ModelPuller.ResolveUrl(new Uri("https://huggingface.co"), HubModels.DefaultRepoId, HubModels.AllMiniLmL6V2.Revision, "1_Pooling/config.json").AbsoluteUri);

    [Fact]
    public void Cli_Pull_UsesXdgCacheHome_AndKeepsStderrQuietWhenRedirected()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        string cache = Path.Combine(_root, "xdg");
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cache };
        var r = CliRunner.Run(["pull", Repo, "--endpoint", s.Endpoint.AbsoluteUri, "--revision", Rev], env);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr); // no progress bar when stderr is not a terminal
        string dir = Path.Combine(cache, "managedembed", "test-org", "tiny-model");
        Assert.Contains(dir, r.Stdout);
        AssertSameFiles(files, dir);
    }

    [Fact]
    public void Cli_Pull_CorruptedDownload_ExitsNonZeroWithOneLine()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        s.Corrupt.Add("model.safetensors");
        string dir = Path.Combine(_root, "models", "tiny-model");
        var r = CliRunner.Run(["pull", Repo, "--endpoint", s.Endpoint.AbsoluteUri, "--revision", Rev, "--dir", dir]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("membed: error: model.safetensors from", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Cli_Pull_Interrupted_ThenResumed()
    {
        var files = SyntheticModel();
        using var s = Server(files);
        s.DropAfter["model.safetensors"] = 65_536;
        s.DropTimes["model.safetensors"] = 1;
        string dir = Path.Combine(_root, "models", "tiny-model");
        string[] args = ["pull", Repo, "--endpoint", s.Endpoint.AbsoluteUri, "--revision", Rev, "--dir", dir];
        var first = CliRunner.Run(args);
        Assert.Equal(2, first.ExitCode);
        Assert.Contains("interrupted after 65,536 of 300,000 bytes", first.Stderr);
        Assert.False(Directory.Exists(dir));
        var second = CliRunner.Run(args);
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains("resuming", second.Stderr); // the note on stderr
        Assert.Contains(s.Requests, q => q.Path == "/cdn/model.safetensors" && q.Range == "bytes=65536-");
        AssertSameFiles(files, dir);
    }

    [Fact]
    public void Cli_AddsTheHintsTheLibraryLeavesOut()
    {
        // Unreachable hub: the command to run elsewhere and the flag that uses its result.
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        string dir = Path.Combine(_root, "models", "tiny-model");
        var r = CliRunner.Run(["pull", Repo, "--source", "hub", "--endpoint", $"http://127.0.0.1:{port}", "--revision", Rev, "--dir", dir]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("cannot reach", r.Stderr);
        Assert.Contains($"Run 'membed pull {Repo}' where the hub is reachable", r.Stderr);
        Assert.Contains("--model DIR", r.Stderr);

        var files = SyntheticModel();
        using var s = Server(files);
        s.SendLinkedEtag = false;
        r = CliRunner.Run(["pull", Repo, "--source", "hub", "--endpoint", s.Endpoint.AbsoluteUri, "--revision", Rev, "--dir", dir]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no SHA-256 is known", r.Stderr);
        Assert.Contains("pass --sha256 HEX to pin one", r.Stderr);

        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "mine.txt"), "keep");
        r = CliRunner.Run(["pull", Repo, "--source", "hub", "--endpoint", s.Endpoint.AbsoluteUri, "--revision", Rev, "--dir", dir]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not written by a model pull", r.Stderr);
        Assert.Contains("choose another with --dir", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Resolver_NamesTheRepositoryNotTheCommand()
    {
        var e = Assert.Throws<ModelNotFoundException>(() => ModelResolver.Resolve("some-org/not-cached-anywhere"));
        Assert.Equal("some-org/not-cached-anywhere", e.RepoId);
        Assert.Null(e.FetchFailure);
        LibraryWording.AssertNoCliWords(e.Message); // the CLI adds "fetch it with 'membed pull …'" (ProductEndToEndTests)
        var f = Assert.Throws<ModelNotFoundException>(() => ModelResolver.Resolve("some-org/not-cached-anywhere", _ => throw new SourceUnreachableException("cannot reach x") { RepoId = "some-org/not-cached-anywhere" }));
        Assert.IsType<SourceUnreachableException>(f.FetchFailure);
        LibraryWording.AssertNoCliWords(f.Message);
        string file = Path.Combine(_root, "a-file");
        File.WriteAllText(file, "x");
        LibraryWording.AssertNoCliWords(Assert.Throws<ManagedEmbedException>(() => ModelResolver.Resolve(file)).Message);
        LibraryWording.AssertNoCliWords(Assert.Throws<ManagedEmbedException>(() => ModelResolver.Resolve("")).Message);
    }

    [Fact]
    public void Cli_Pull_UsageErrors()
    {
        Assert.Equal(2, CliRunner.Run(["pull"]).ExitCode);
        Assert.Equal(2, CliRunner.Run(["pull", Repo, "--bogus"]).ExitCode);
        var r = CliRunner.Run(["pull", Repo, "--sha256", "xyz", "--endpoint", "http://127.0.0.1:9"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--sha256 must be 64 hex digits", r.Stderr);
    }
}
