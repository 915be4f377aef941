using System.Diagnostics;

namespace ManagedEmbed.Cli.Tests;

/// <summary>Runs the real `membed` entry point (membed.dll beside the tests) in a child process, with stdio redirected.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string MembedDll => Path.Combine(AppContext.BaseDirectory, "membed.dll");

    public static Result Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? stdin = null, int timeoutMs = 120_000)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.Environment["DOTNET_EnableDiagnostics"] = "0"; // no runtime IPC pipes in $TMPDIR: a killed child leaves them behind
        psi.ArgumentList.Add(MembedDll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("membed " + string.Join(' ', args) + " did not finish");
        }
        return new Result(p.ExitCode, outTask.Result, errTask.Result);
    }
}
