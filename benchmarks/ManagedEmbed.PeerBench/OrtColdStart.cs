// ONNX Runtime's cold start, for tools/bench_cold_start.py --ort: PeerBench --ort-cold-start MODEL_DIR ONNX_FILE reads
// one text from stdin, tokenizes it with the model directory's tokenizer (the same as membed's), creates an ORT
// InferenceSession on the model's ONNX export (tools/export_onnx.py; CPU EP, ORT_ENABLE_ALL, 1 thread), runs it, mean
// pools and L2-normalizes the last hidden state — the work `membed embed` does — and prints the embedding, then the
// in-process times of the session creation and the first run on stderr. Nothing else runs first, so the process
// timing of the caller is process start → first embedding.
using System.Diagnostics;
using System.Globalization;
using ManagedEmbed.Encoder;
using Microsoft.ML.OnnxRuntime;

static class OrtColdStart
{
    public static int Run(string modelDir, string onnxPath)
    {
        var total = Stopwatch.StartNew();
        string text = Console.In.ReadLine() ?? "";
        var tokenizer = SentenceTokenizer.Load(modelDir);
        long[] ids = tokenizer.Tokenize(text).Select(i => (long)i).ToArray();
        double tokenizeMs = total.Elapsed.TotalMilliseconds;
        var sw = Stopwatch.StartNew();
        using var ort = new OrtBatch(onnxPath, 1, ids, 1, ids.Length);
        double sessionMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        using var outputs = ort.Run();
        var hidden = outputs[0].GetTensorDataAsSpan<float>();
        int h = hidden.Length / ids.Length;
        var e = new double[h];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < h; j++) e[j] += hidden[t * h + j];
        double norm = Math.Sqrt(e.Sum(v => v * v));
        double runMs = sw.Elapsed.TotalMilliseconds;
        Console.WriteLine(string.Join(' ', e.Select(v => (v / norm).ToString("G9", CultureInfo.InvariantCulture))));
        Console.Error.WriteLine($"ort-cold-start tokenizer_ms={tokenizeMs:F1} session_ms={sessionMs:F1} first_run_ms={runMs:F1} in_process_total_ms={total.Elapsed.TotalMilliseconds:F1}");
        return 0;
    }
}
