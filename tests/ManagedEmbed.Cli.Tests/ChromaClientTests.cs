using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Collections;
using ManagedEmbed.Encoder;
using ManagedEmbed.Server;
using ManagedEmbed.Testing;
using Xunit.Abstractions;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// Chroma's HTTP API in membed serve, driven by the official <c>chromadb</c> npm client (tests/clients/chroma,
/// installed by <c>npm ci</c>) against membed serve and against the real Chroma server the same package ships: the
/// transcripts must be equal (distances to 1e-4, error classes, counts).
/// </summary>
[Collection("real-minilm")]
public sealed class ChromaClientTests(RealMiniLm model, ITestOutputHelper output)
{
    internal static string ClientDir => Path.Combine(TestPaths.RepoRoot, "tests", "clients", "chroma");

    internal static string CheckInstalled()
    {
        string pkg = Path.Combine(ClientDir, "node_modules", "chromadb", "package.json");
        Assert.True(File.Exists(pkg), $"{pkg} is missing: run 'npm ci' in {ClientDir} (.ci/run does)");
        Assert.Equal("3.0.10", JsonDocument.Parse(File.ReadAllText(pkg)).RootElement.GetProperty("version").GetString());
        return Which("node");
    }

    private static string Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"'{name}' is not on PATH: the Chroma client test needs Node.js 20+ (apt-get install nodejs npm)");

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>A server process (real Chroma or membed serve) on 127.0.0.1, stopped by SIGTERM on dispose.</summary>
    internal sealed class ServerProcess : IDisposable
    {
        private readonly Process _p;
        private readonly StringBuilder _log = new();
        public string Url { get; }

        private ServerProcess(Process p, string url) { _p = p; Url = url; }

        public static async Task<ServerProcess> RealChroma(string node, string dir)
        {
            int port = FreePort();
            var psi = new ProcessStartInfo(node) { WorkingDirectory = ClientDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in (string[])["node_modules/chromadb/dist/cli.mjs", "run", "--path", dir, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]) psi.ArgumentList.Add(a);
            var p = Process.Start(psi)!;
            var s = new ServerProcess(p, $"http://127.0.0.1:{port}");
            p.OutputDataReceived += (_, e) => { lock (s._log) s._log.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { lock (s._log) s._log.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            for (int i = 0; i < 300; i++)
            {
                if (p.HasExited) throw new InvalidOperationException($"chroma exited {p.ExitCode}: {s._log}");
                try
                {
                    using var r = await http.GetAsync($"{s.Url}/api/v2/heartbeat");
                    if (r.IsSuccessStatusCode) return s;
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                await Task.Delay(100);
            }
            s.Dispose();
            throw new TimeoutException("the real Chroma server did not answer its heartbeat within 30 s: " + s._log);
        }

        public static Task<ServerProcess> Membed(string modelDir, string dir, params string[] extra) => Membed(modelDir, dir, null, extra);

        /// <summary>membed serve --path DIR with extra environment variables (e.g. a small compaction threshold).</summary>
        public static async Task<ServerProcess> Membed(string modelDir, string dir, IReadOnlyDictionary<string, string>? env, params string[] extra)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
            foreach (string a in (string[])[CliRunner.MembedDll, "serve", "--path", dir, "--model", modelDir, "--port", "0", .. extra]) psi.ArgumentList.Add(a);
            var p = Process.Start(psi)!;
            var stderr = new StringBuilder();
            p.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
            p.BeginErrorReadLine();
            string line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2))
                ?? throw new InvalidOperationException("membed serve exited: " + stderr);
            Assert.StartsWith("membed: serving ", line);
            string url = line[(line.LastIndexOf(" on ", StringComparison.Ordinal) + 4)..];
            Assert.StartsWith("http://127.0.0.1:", url);
            return new ServerProcess(p, url);
        }

        public void Dispose()
        {
            if (!_p.HasExited)
            {
                using (var kill = Process.Start("kill", ["-TERM", _p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
                if (!_p.WaitForExit(30_000)) _p.Kill(true);
            }
            _p.WaitForExit();
            _p.Dispose();
        }
    }

    internal static (int Code, string Stdout, string Stderr) RunNode(string node, string script, params string[] args)
    {
        var psi = new ProcessStartInfo(node) { WorkingDirectory = ClientDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000)) { p.Kill(true); throw new TimeoutException($"node {script} did not finish"); }
        return (p.ExitCode, o.Result, e.Result);
    }

    private static JsonElement Steps(string what, (int Code, string Stdout, string Stderr) r)
    {
        Assert.True(r.Code == 0, $"{what}: node exited {r.Code}: {r.Stdout}\n{r.Stderr}");
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }

    /// <summary>Equal JSON, numbers within <paramref name="tol"/>; the first difference as a path, or null.</summary>
    internal static string? Diff(JsonElement a, JsonElement b, string path = "$", double tol = 1e-4)
    {
        if (a.ValueKind is JsonValueKind.True or JsonValueKind.False && b.ValueKind is JsonValueKind.True or JsonValueKind.False)
            return a.GetBoolean() == b.GetBoolean() ? null : $"{path}: {a} vs {b}";
        if (a.ValueKind != b.ValueKind) return $"{path}: {a.ValueKind} {a.GetRawText()} vs {b.ValueKind} {b.GetRawText()}";
        switch (a.ValueKind)
        {
            case JsonValueKind.Number:
                return Math.Abs(a.GetDouble() - b.GetDouble()) <= tol ? null : $"{path}: {a.GetDouble()} vs {b.GetDouble()}";
            case JsonValueKind.String:
                return a.GetString() == b.GetString() ? null : $"{path}: '{a.GetString()}' vs '{b.GetString()}'";
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength()) return $"{path}: {a.GetArrayLength()} items vs {b.GetArrayLength()}: {a.GetRawText()} vs {b.GetRawText()}";
                for (int i = 0; i < a.GetArrayLength(); i++)
                    if (Diff(a[i], b[i], $"{path}[{i}]", tol) is { } d) return d;
                return null;
            case JsonValueKind.Object:
                var ka = a.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
                var kb = b.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
                if (!ka.SequenceEqual(kb)) return $"{path}: keys {string.Join(",", ka)} vs {string.Join(",", kb)}";
                foreach (var k in ka)
                    if (Diff(a.GetProperty(k), b.GetProperty(k), $"{path}.{k}", tol) is { } d) return d;
                return null;
            default:
                return null;
        }
    }

    private static JsonElement Step(JsonElement steps, string name) =>
        steps.EnumerateArray().First(s => s.GetProperty("step").GetString() == name).GetProperty("value");

    [Fact]
    public async Task TutorialAndLevel3_TranscriptEqualsRealChromas_AndSurvivesARestart()
    {
        string node = CheckInstalled();
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (embedServer, _) = await ServerTests.Start(encoder);
        await using var __ = embedServer;
        string embedUrl = embedServer.Address.ToString().TrimEnd('/');
        string root = TestPaths.NewTempDir("membed-chroma");
        try
        {
            string chromaDir = Path.Combine(root, "chroma"), membedDir = Path.Combine(root, "membed");
            JsonElement chromaRun, chromaReopen, membedRun, membedReopen;
            using (var chroma = await ServerProcess.RealChroma(node, chromaDir)) chromaRun = Steps("real Chroma", RunNode(node, "tutorial.mjs", "run", chroma.Url, embedUrl));
            using (var chroma = await ServerProcess.RealChroma(node, chromaDir)) chromaReopen = Steps("real Chroma after restart", RunNode(node, "tutorial.mjs", "reopen", chroma.Url, embedUrl));
            using (var membed = await ServerProcess.Membed(model.Directory, membedDir)) membedRun = Steps("membed", RunNode(node, "tutorial.mjs", "run", membed.Url, embedUrl));
            using (var membed = await ServerProcess.Membed(model.Directory, membedDir)) membedReopen = Steps("membed after restart", RunNode(node, "tutorial.mjs", "reopen", membed.Url, embedUrl));

            foreach (var s in membedRun.EnumerateArray().Concat(membedReopen.EnumerateArray()))
                output.WriteLine($"{s.GetProperty("step").GetString()}: {s.GetProperty("value").GetRawText()}");
            Assert.True(chromaRun.GetArrayLength() >= 40, $"the script stopped early: {chromaRun.GetArrayLength()} steps");
            Assert.Null(Diff(chromaRun, membedRun));
            Assert.Null(Diff(chromaReopen, membedReopen));

            // Hand-checkable facts of the transcript (not produced by membed alone: real Chroma printed them too).
            Assert.Equal(5, Step(membedRun, "tutorial: collection size").GetInt32());
            Assert.Equal(4, Step(membedRun, "tutorial: after update and delete").GetInt32());
            Assert.Equal(240, Step(membedRun, "level3: count").GetInt32());
            Assert.Equal("ChromaUniqueError", Step(membedRun, "errors: duplicate collection name").GetString());
            Assert.Equal("ChromaNotFoundError", Step(membedRun, "errors: unknown collection").GetString());
            Assert.Equal("ChromaClientError", Step(membedRun, "errors: dimension mismatch on add").GetString());
            // l2: squared distances from [1,1,0] to [1,0,0], [0,2,0], [0,0,3] are 1, 2 and 11.
            var l2 = Step(membedRun, "management: l2 space (default) squared distances");
            Assert.Equal(["a", "b", "c"], l2.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).ToArray());
            Assert.Equal([1.0, 2.0, 11.0], l2.GetProperty("distances").EnumerateArray().Select(x => Math.Round(x.GetDouble(), 4)).ToArray());

            // The in-process API on the directory membed served gives the same answer as the HTTP transcript.
            using var store = CollectionStore.Open(membedDir, readOnly: true);
            var q = store.GetCollection("level3_articles").Query(queryEmbeddings: [encoder.Encode("how do neural networks learn from images?")], nResults: 5);
            var http = Step(membedReopen, "reopen: semantic search").EnumerateArray().ToList();
            Assert.Equal(http.Select(h => h.GetProperty("id").GetString()), q.Ids[0]);
            for (int i = 0; i < http.Count; i++) Assert.Equal(http[i].GetProperty("distance").GetDouble(), q.Distances![0][i], 1e-5);
        }
        finally { Directory.Delete(root, true); }
    }

    /// <summary>
    /// HNSW through Chroma's HTTP door (issue 16 item 4): collections configured by <c>configuration.hnsw</c> and by the
    /// legacy <c>hnsw:*</c> metadata, 3,000 vectors each, ef_search changed by modify, deletes, a restart. The settings as
    /// read back, counts, gets and exact self-hits equal real Chroma's transcript; membed's segments really are HNSW
    /// graphs with those settings (a small compaction threshold makes the server compact while the client adds); the
    /// recall@10 of both engines against an exact top-10 is bounded (two graphs differ, so it is not compared exactly).
    /// </summary>
    [Fact]
    public async Task HnswCollections_OverHttp_MatchRealChromas_AndAreHnswGraphs()
    {
        string node = CheckInstalled();
        string root = TestPaths.NewTempDir("membed-chroma-hnsw");
        try
        {
            string chromaDir = Path.Combine(root, "chroma"), membedDir = Path.Combine(root, "membed");
            var compactEarly = new Dictionary<string, string> { ["MEMBED_COMPACT_MIN_WAL_BYTES"] = "65536" };
            JsonElement chromaRun, chromaReopen, membedRun, membedReopen;
            using (var chroma = await ServerProcess.RealChroma(node, chromaDir)) chromaRun = Steps("real Chroma", RunNode(node, "hnsw.mjs", "run", chroma.Url));
            using (var chroma = await ServerProcess.RealChroma(node, chromaDir)) chromaReopen = Steps("real Chroma after restart", RunNode(node, "hnsw.mjs", "reopen", chroma.Url));
            using (var membed = await ServerProcess.Membed(model.Directory, membedDir, compactEarly)) membedRun = Steps("membed", RunNode(node, "hnsw.mjs", "run", membed.Url));
            using (var membed = await ServerProcess.Membed(model.Directory, membedDir, compactEarly)) membedReopen = Steps("membed after restart", RunNode(node, "hnsw.mjs", "reopen", membed.Url));

            foreach (var r in new[] { membedRun, membedReopen })
                foreach (var s in r.GetProperty("steps").EnumerateArray())
                    output.WriteLine($"{s.GetProperty("step").GetString()}: {s.GetProperty("value").GetRawText()}");
            Assert.Equal(14, chromaRun.GetProperty("steps").GetArrayLength());
            Assert.Equal(8, chromaReopen.GetProperty("steps").GetArrayLength());
            Assert.Null(Diff(chromaRun.GetProperty("steps"), membedRun.GetProperty("steps")));
            Assert.Null(Diff(chromaReopen.GetProperty("steps"), membedReopen.GetProperty("steps")));

            // Facts of the transcript that real Chroma printed too.
            var steps = membedReopen.GetProperty("steps");
            var cfg = Step(steps, "hnsw-legacy-metadata: reopen configuration");
            Assert.Equal(("l2", 8, 64, 200), (cfg.GetProperty("space").GetString(), cfg.GetProperty("max_neighbors").GetInt32(), cfg.GetProperty("ef_construction").GetInt32(), cfg.GetProperty("ef_search").GetInt32()));
            Assert.Equal(2970, Step(steps, "hnsw-configured: reopen count").GetInt32());

            foreach (var (label, chroma, membed) in new[] { ("run", chromaRun, membedRun), ("reopen", chromaReopen, membedReopen) })
                foreach (var p in chroma.GetProperty("recall").EnumerateObject())
                {
                    double ours = membed.GetProperty("recall").GetProperty(p.Name).GetDouble(), theirs = p.Value.GetDouble();
                    output.WriteLine($"recall@10 {p.Name}: membed {ours:0.000}, Chroma {theirs:0.000}");
                    Assert.True(ours >= 0.95 && ours >= theirs - 0.02, $"{label} {p.Name}: recall@10 membed {ours:0.000} vs Chroma {theirs:0.000}");
                }

            // The segments the server wrote are HNSW graphs with the collections' settings (FAISS IndexHNSWFlat files).
            using var store = CollectionStore.Open(membedDir, readOnly: true);
            foreach (var (name, settings) in new[] { ("hnsw-configured", new HnswSettings(16, 100, 200)), ("hnsw-legacy-metadata", new HnswSettings(8, 64, 200)) })
            {
                var c = store.GetCollection(name);
                Assert.Equal("hnsw", c.IndexKind);
                Assert.Equal(settings, c.Hnsw);
                string seg = Directory.GetFiles(Path.Combine(membedDir, name), "seg-*.faiss").Single();
                Assert.Equal("IHNf"u8.ToArray(), File.ReadAllBytes(seg)[..4]);
            }
        }
        finally { Directory.Delete(root, true); }
    }
}
