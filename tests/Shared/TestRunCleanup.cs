using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ManagedEmbed.Testing;

/// <summary>
/// xunit's own framework plus one step: when the assembly's last test has run, this process's temporary root
/// (<see cref="TestPaths.NewTempDir"/>) is removed. It runs inside the assembly runner, before the run reports
/// completion: the test host is ended right after that without running ProcessExit handlers or disposing the framework
/// (measured: a disposal hook left /tmp/membed-tests-PID with ~600 entries after every Encoder run). Every test
/// assembly uses it (Directory.Build.props).
/// </summary>
public sealed class CleanupTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    /// <inheritdoc/>
    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName assemblyName, ISourceInformationProvider sourceInformationProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkExecutor(assemblyName, sourceInformationProvider, diagnosticMessageSink)
    {
        protected override async void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        {
            using var runner = new AssemblyRunner(TestAssembly, testCases, DiagnosticMessageSink, executionMessageSink, executionOptions);
            await runner.RunAsync();
        }
    }

    private sealed class AssemblyRunner(ITestAssembly testAssembly, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnosticMessageSink,
        IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        : XunitTestAssemblyRunner(testAssembly, testCases, diagnosticMessageSink, executionMessageSink, executionOptions)
    {
        protected override Task BeforeTestAssemblyFinishedAsync()
        {
            TestPaths.RemoveProcessRoot();
            return base.BeforeTestAssemblyFinishedAsync();
        }
    }
}
