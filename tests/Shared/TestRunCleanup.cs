using Xunit.Abstractions;
using Xunit.Sdk;

namespace ManagedEmbed.Testing;

/// <summary>
/// xunit's own framework plus one step: when the run ends, this process's temporary root
/// (<see cref="TestPaths.NewTempDir"/>) is removed. The test host is ended without running ProcessExit handlers, so
/// without this the root of the last run stayed in /tmp. Every test assembly uses it (Directory.Build.props).
/// </summary>
public sealed class CleanupTestFramework : XunitTestFramework
{
    /// <summary>Created by xunit from the assembly's [TestFramework] attribute.</summary>
    public CleanupTestFramework(IMessageSink messageSink) : base(messageSink) => DisposalTracker.Add(new RemoveRoot());

    private sealed class RemoveRoot : IDisposable
    {
        public void Dispose() => TestPaths.RemoveProcessRoot();
    }
}
