using System.Diagnostics;
using ManagedEmbed.Collections;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

internal static class H
{
    public static Dictionary<string, MetadataValue> Meta(params (string K, MetadataValue V)[] kv) =>
        kv.ToDictionary(x => x.K, x => x.V, StringComparer.Ordinal);

    public static float[] RandVec(Random r, int dim)
    {
        var v = new float[dim];
        for (int i = 0; i < dim; i++) v[i] = (float)(r.NextDouble() * 2 - 1);
        return v;
    }

    /// <summary>Clustered data and queries (centre + 0.15·Gaussian noise, Box–Muller), drawn in that order from one seed.</summary>
    public static (float[][] Data, float[][] Queries) Clustered(int n, int nq, int dim, int clusters, int seed)
    {
        var r = new Random(seed);
        var centers = Enumerable.Range(0, clusters).Select(_ => RandVec(r, dim)).ToArray();
        float[] Sample()
        {
            var c = centers[r.Next(clusters)];
            var v = new float[dim];
            for (int j = 0; j < dim; j++) v[j] = c[j] + (float)(0.15 * Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
            return v;
        }
        var data = Enumerable.Range(0, n).Select(_ => Sample()).ToArray();
        return (data, Enumerable.Range(0, nq).Select(_ => Sample()).ToArray());
    }

    /// <summary>Cosine similarity in double (the exact reference of the recall tests).</summary>
    public static double Cos(float[] a, float[] b)
    {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }

    /// <summary>Snapshot of a collection's full contents for equality checks.</summary>
    public static SortedDictionary<string, string> Snapshot(Collection c)
    {
        var g = c.Get(include: Include.Documents | Include.Metadatas | Include.Embeddings);
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < g.Ids.Count; i++)
        {
            string meta = g.Metadatas![i] is { } m ? string.Join(";", m.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key}={x.Value.Kind}:{x.Value}")) : "-";
            d[g.Ids[i]] = $"{g.Documents![i]}|{meta}|{string.Join(",", g.Embeddings![i])}";
        }
        return d;
    }

    public static string MembedDll
    {
        get
        {
#if DEBUG
            const string cfg = "Debug";
#else
            const string cfg = "Release";
#endif
            string p = Path.Combine(TestPaths.RepoRoot, "src", "ManagedEmbed.Cli", "bin", cfg, "net10.0", "membed.dll");
            if (!File.Exists(p)) throw new InvalidOperationException($"membed.dll not built at {p}");
            return p;
        }
    }

    public static ProcessStartInfo Psi(IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["DOTNET_EnableDiagnostics"] = "0"; // no runtime IPC pipes in $TMPDIR: a killed child leaves them behind
        psi.ArgumentList.Add(MembedDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return psi;
    }

    public static (int Exit, string Out, string Err) Run(params string[] args) => RunEnv(null, args);

    /// <summary>Runs membed with <paramref name="stdin"/> piped to it (stdin is then never a terminal).</summary>
    public static (int Exit, string Out, string Err) RunStdin(string stdin, IDictionary<string, string>? env, params string[] args)
    {
        var psi = Psi(args, env);
        psi.RedirectStandardInput = true;
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(300_000)) { p.Kill(true); throw new TimeoutException("membed did not finish"); }
        return (p.ExitCode, so.Result, se.Result);
    }

    public static (int Exit, string Out, string Err) RunEnv(IDictionary<string, string>? env, params string[] args)
    {
        using var p = Process.Start(Psi(args, env))!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("membed did not finish"); }
        return (p.ExitCode, so.Result, se.Result);
    }
}
