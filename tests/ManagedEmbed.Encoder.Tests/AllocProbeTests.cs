using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Tests;

[Collection(AllocationCollection.Name)]
public class AllocProbeTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Probe()
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        using var model = EncoderRegistry.LoadModel(Path.Combine(dir, "model.safetensors"), config);
        using var pool = new KernelThreadPool(1);
        var batch = new TokenBatch(TestModels.RandomIds(9, 3, 30, seed: 5));
        var ws = new EncoderWorkspace();
        for (int i = 0; i < 300; i++) model.Forward(batch, ws, pool);
        long b0 = GC.GetTotalAllocatedBytes(true);
        for (int i = 0; i < 20; i++) model.Embeddings.Forward(batch, ws.Hidden);
        long b1 = GC.GetTotalAllocatedBytes(true);
        for (int i = 0; i < 20; i++) model.Layers[0].Attention.Forward(batch, ws, pool);
        long b2 = GC.GetTotalAllocatedBytes(true);
        for (int i = 0; i < 20; i++) model.Layers[0].FeedForward.Forward(batch, ws, pool);
        long b3 = GC.GetTotalAllocatedBytes(true);
        for (int i = 0; i < 200; i++) model.Forward(batch, ws, pool);
        long b4 = GC.GetTotalAllocatedBytes(true);
        for (int i = 0; i < 20; i++) { }
        long b5 = GC.GetTotalAllocatedBytes(true);
        output.WriteLine("x"); Assert.Fail($"emb {b1 - b0} attn {b2 - b1} ffn {b3 - b2} full {b4 - b3} empty {b5 - b4}");
    }
}
