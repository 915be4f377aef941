using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Extensions.AI;
using Microsoft.Extensions.AI;
using OpenAI;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// membed serve with real clients, on 127.0.0.1 and an ephemeral port: the official OpenAI .NET client (through
/// Microsoft.Extensions.AI.OpenAI), the official <c>openai</c> npm package (tests/clients/openai, installed by
/// <c>npm ci</c>), and the CLI's own process stopped by SIGTERM.
/// </summary>
[Collection("real-minilm")]
public sealed class ServerClientTests(RealMiniLm model)
{
    [Fact]
    public async Task OpenAiDotNetClient_ReturnsTheInProcessGeneratorsVectors()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, _) = await ServerTests.Start(encoder);
        await using var __ = server;
        var options = new OpenAIClientOptions { Endpoint = new Uri(server.Address, "v1") };
        IEmbeddingGenerator<string, Embedding<float>> remote =
            new OpenAI.Embeddings.EmbeddingClient("all-MiniLM-L6-v2", new ApiKeyCredential("unused"), options).AsIEmbeddingGenerator();
        using var local = new ManagedEmbedGenerator(encoder, RealMiniLm.Repo);

        foreach (int? dims in (int?[])[null, 64])
        {
            var o = new EmbeddingGenerationOptions { Dimensions = dims };
            var got = await remote.GenerateAsync(ExtensionsAiTests.Texts, o);
            var want = await local.GenerateAsync(ExtensionsAiTests.Texts, o);
            Assert.Equal(want.Count, got.Count);
            for (int i = 0; i < want.Count; i++)
            {
                Assert.Equal(dims ?? 384, got[i].Vector.Length);
                Assert.True(ExtensionsAiTests.MaxDiff(want[i].Vector.Span, got[i].Vector.Span) <= 1e-6, $"text {i}, dimensions {dims}");
            }
            Assert.Equal(want.Usage?.InputTokenCount, got.Usage?.InputTokenCount);
        }

        var unknown = new OpenAI.Embeddings.EmbeddingClient("text-embedding-3-small", new ApiKeyCredential("unused"), options).AsIEmbeddingGenerator();
        var e = await Assert.ThrowsAsync<ClientResultException>(() => unknown.GenerateVectorAsync("x"));
        Assert.Equal(404, e.Status);
        Assert.Contains("text-embedding-3-small", e.Message);
    }

    private static string Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"'{name}' is not on PATH: the Node client test needs Node.js 20+ (apt-get install nodejs npm)");

    [Fact]
    public async Task OpenAiNodeClient_ReturnsTheInProcessGeneratorsVectors()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "tests", "clients", "openai");
        string pkg = Path.Combine(dir, "node_modules", "openai", "package.json");
        Assert.True(File.Exists(pkg), $"{pkg} is missing: run 'npm ci' in {dir} (.ci/run does)");
        Assert.Equal("7.55.0", JsonDocument.Parse(File.ReadAllText(pkg)).RootElement.GetProperty("version").GetString());
        string node = Which("node");

        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, _) = await ServerTests.Start(encoder);
        await using var __ = server;
        string baseUrl = new Uri(server.Address, "v1").ToString();
        using var local = new ManagedEmbedGenerator(encoder, RealMiniLm.Repo);

        foreach (int dims in (int[])[0, 128])
        {
            var (code, stdout, stderr) = RunNode(node, dir, [baseUrl, "all-MiniLM-L6-v2", dims.ToString(System.Globalization.CultureInfo.InvariantCulture), .. ExtensionsAiTests.Texts]);
            Assert.True(code == 0, $"node exited {code}: {stdout} {stderr}");
            var r = JsonDocument.Parse(stdout).RootElement;
            var want = await local.GenerateAsync(ExtensionsAiTests.Texts, new EmbeddingGenerationOptions { Dimensions = dims == 0 ? null : dims });
            var rows = r.GetProperty("embeddings").EnumerateArray().ToList();
            Assert.Equal(want.Count, rows.Count);
            for (int i = 0; i < rows.Count; i++)
            {
                float[] got = rows[i].EnumerateArray().Select(x => x.GetSingle()).ToArray();
                Assert.True(ExtensionsAiTests.MaxDiff(want[i].Vector.Span, got) <= 1e-6, $"text {i}, dimensions {dims}");
            }
            Assert.Equal(want.Usage!.InputTokenCount, r.GetProperty("prompt_tokens").GetInt64());
            Assert.Equal(RealMiniLm.Repo, r.GetProperty("model").GetString());
        }
        var (badCode, badOut, _) = RunNode(node, dir, [baseUrl, "no-such-model", "0", "x"]);
        Assert.Equal(3, badCode);
        var bad = JsonDocument.Parse(badOut).RootElement;
        Assert.Equal(404, bad.GetProperty("status").GetInt32());
        Assert.Equal("model_not_found", bad.GetProperty("error").GetProperty("code").GetString());
    }

    private static (int Code, string Stdout, string Stderr) RunNode(string node, string dir, string[] args)
    {
        var psi = new ProcessStartInfo(node) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("embed.mjs");
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("node embed.mjs did not finish"); }
        return (p.ExitCode, o.Result, e.Result);
    }

    [Fact]
    public async Task Cli_Serve_Sigterm_FinishesInFlightRequests_AndExitsZero()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])[CliRunner.MembedDll, "serve", "--model", model.Directory, "--port", "0", "--shutdown-timeout", "600"]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            string line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2))
                ?? throw new InvalidOperationException("membed serve exited: " + await stderr);
            Assert.StartsWith("membed: serving ", line);
            string url = line[(line.LastIndexOf(" on ", StringComparison.Ordinal) + 4)..];
            Assert.StartsWith("http://127.0.0.1:", url);
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(5) };
            string heavy = JsonSerializer.Serialize(new Dictionary<string, string[]>
            {
                ["input"] = Enumerable.Range(0, 96).Select(i => $"{i} " + string.Join(' ', Enumerable.Repeat("the server finishes what it started", 25))).ToArray(),
            });
            var inFlight = http.PostAsync("/v1/embeddings", new StringContent(heavy, Encoding.UTF8, "application/json"));
            // (--shutdown-timeout 600: on a loaded machine the request may take longer than the default 30 s, after
            // which shutdown aborts it by design.)
            await Task.Delay(500);
            Assert.False(inFlight.IsCompleted, "the request finished before SIGTERM; make it heavier");
            using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            using var r = await inFlight;
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(96, body.GetProperty("data").GetArrayLength());
            Assert.True(p.WaitForExit(60_000), "membed serve did not exit after SIGTERM");
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("server stopped", await stderr);
        }
        finally
        {
            if (!p.HasExited) p.Kill(true);
        }
    }

    [Theory]
    [InlineData("--port", "70000", "--port")]
    [InlineData("--host", "not-an-address", "not-an-address")]
    [InlineData("--max-batch-tokens", "0", "--max-batch-tokens")]
    [InlineData("--bogus", "1", "--bogus")]
    public void Cli_Serve_BadOptions_AreOneLineErrors(string option, string value, string mentioned)
    {
        var r = CliRunner.Run(["serve", "--model", model.Directory, option, value]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("membed: error: ", r.Stderr);
        Assert.Contains(mentioned, r.Stderr);
        Assert.DoesNotContain(" at ", r.Stderr);
    }
}
