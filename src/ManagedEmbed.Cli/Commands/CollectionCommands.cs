using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ManagedEmbed.Collections;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli;

/// <summary>`membed collection create|add|upsert|update|get|query|delete|count|list|drop|check|repair --path DIR ...`.</summary>
internal static class CollectionCommands
{
    private const string Usage = "usage: membed collection create|add|upsert|update|get|query|delete|count|list|drop|check|repair --path DIR [--name NAME] ...";

    public static int Collection(string[] args)
    {
        if (args.Length == 0) throw new ManagedEmbedException(Usage);
        string sub = args[0];
        var rest = args[1..];
        return sub switch
        {
            "create" => Create(rest),
            "add" or "upsert" or "update" => Write(sub, rest),
            "get" => Get(rest),
            "query" => Query(rest),
            "delete" => Delete(rest),
            "count" => Count(rest),
            "list" => List(rest),
            "drop" => Drop(rest),
            "check" => Check(rest),
            "repair" => Repair(rest),
            _ => throw new ManagedEmbedException($"unknown collection command '{sub}' ({Usage})"),
        };
    }

    /// <summary>Opens a collection and prints one warning line per recovery finding (the library never prints).</summary>
    private static Collection Open(CollectionStore store, string name)
    {
        var c = store.GetCollection(name);
        foreach (var f in c.RecoveryReport.Findings) Console.Error.WriteLine("membed: warning: " + f + RepairHint(store.Root, name, f));
        return c;
    }

    /// <summary>The command that acts on a finding only a repair may act on (the library names no commands).</summary>
    private static string RepairHint(string root, string name, RecoveryFinding f) =>
        f.Kind == RecoveryFindingKind.CorruptTail && f.QuarantineFile is null ? $" (run 'membed collection repair --path {root} --name {name}')" : "";

    private static int Check(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name"]);
        a.NoPositional();
        string name = a.Require("--name");
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        var r = store.CheckCollection(name);
        if (r.IsClean) { Console.Out.WriteLine($"collection {name}: ok"); return 0; }
        foreach (var f in r.Findings) Console.Out.WriteLine("damaged: " + f + RepairHint(store.Root, name, f));
        return 1;
    }

    private static int Repair(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name"], ["--yes"]);
        a.NoPositional();
        string name = a.Require("--name"), path = a.Require("--path");
        if (!a.Has("--yes"))
        {
            // Dry run: report what would be quarantined, change nothing.
            using var ro = CollectionStore.Open(path, readOnly: true);
            var r = ro.CheckCollection(name);
            if (r.IsClean) { Console.Out.WriteLine($"collection {name}: ok, nothing to repair"); return 0; }
            if (r.Findings.FirstOrDefault(f => f.Kind == RecoveryFindingKind.Unreadable) is { } u)
                throw new ManagedEmbedException($"repair cannot fix this: {u.Reason}");
            foreach (var f in r.Findings) Console.Out.WriteLine("would quarantine: " + f);
            Console.Error.WriteLine("membed: error: nothing changed; rerun with --yes to move the damaged tail to a quarantine file");
            return 1;
        }
        using var store = CollectionStore.Open(path, options: Options());
        var rep = store.RepairCollection(name);
        if (rep.IsClean) { Console.Out.WriteLine($"collection {name}: ok, nothing to repair"); return 0; }
        foreach (var f in rep.Findings) Console.Out.WriteLine("repaired: " + f);
        return 0;
    }

    private static CollectionOptions Options()
    {
        // Tuning knob for tests and experiments: force frequent compactions.
        string? s = Environment.GetEnvironmentVariable("MEMBED_COMPACT_MIN_WAL_BYTES");
        if (string.IsNullOrEmpty(s)) return CollectionOptions.Default;
        if (!long.TryParse(s, out long v) || v < 0) throw new ManagedEmbedException($"MEMBED_COMPACT_MIN_WAL_BYTES must be a non-negative integer, got '{s}'");
        return new CollectionOptions { CompactionMinWalBytes = v };
    }

    private static int Create(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name", "--space", "--model"]);
        a.NoPositional();
        var space = Manifest(a.GetChoice("--space", "cosine", "cosine", "l2", "ip"));
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        var c = store.CreateCollection(a.Require("--name"), space, a.Get("--model"));
        Console.Out.WriteLine($"created collection {c.Name} (space {a.Get("--space") ?? "cosine"}{(c.Model is null ? "" : ", model " + c.Model)})");
        return 0;
    }

    private static DistanceSpace Manifest(string s) => s switch { "l2" => DistanceSpace.L2, "ip" => DistanceSpace.InnerProduct, _ => DistanceSpace.Cosine };

    private static int Drop(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name"]);
        a.NoPositional();
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        store.DeleteCollection(a.Require("--name"));
        Console.Out.WriteLine($"dropped collection {a.Get("--name")}");
        return 0;
    }

    private sealed class Batch
    {
        public List<string> Ids = new();
        public List<string?> Docs = new();
        public List<IReadOnlyDictionary<string, MetadataValue>?> Metas = new();
        public List<float[]> Embs = new();
        public List<int> EmbLines = new();   // input line of each embedding, for error messages
        public int? FirstLineWithEmbedding, FirstLineWithout;
    }

    private static int Write(string op, string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name", "--input", "--batch-size"]);
        a.NoPositional();
        string input = a.Require("--input");
        int batchSize = a.GetInt("--batch-size", int.MaxValue, 1);
        string path = a.Require("--path"), name = a.Require("--name");
        if (!File.Exists(input)) throw new ManagedEmbedException($"input file not found: {input}");
        // Two streaming passes keep memory bounded by one batch: the first validates the whole file (a bad line
        // anywhere, including a batch mixing lines with and without embeddings, changes nothing), the second commits.
        using var store = CollectionStore.Open(path, options: Options());
        var c = Open(store, name);
        // The writes are durable either way; a failed background compaction is only worth a warning (it is retried).
        c.CompactionFailed += (_, e) => Console.Error.WriteLine($"membed: warning: background compaction of '{name}' failed ({e.Message.ReplaceLineEndings(" ")}); the data is safe and compaction will be retried");
        int records = 0, dim = c.Dimension;
        foreach (var b in Batches(input, op, batchSize))
        {
            records += b.Ids.Count;
            // What the collection would refuse at commit time, checked now so no earlier batch is committed first.
            if (b.Embs.Count == 0 && c.Model is null && op == "add")
                throw new ManagedEmbedException($"{input}:{b.FirstLineWithout}: an embedding is required: collection '{name}' has no model");
            for (int i = 0; i < b.Embs.Count; i++)
            {
                if (dim == 0) dim = b.Embs[i].Length;
                if (b.Embs[i].Length != dim)
                    throw new ManagedEmbedException($"{input}:{b.EmbLines[i]}: embedding has dimension {b.Embs[i].Length}, collection '{name}' has {dim}");
            }
        }
        if (records == 0) throw new ManagedEmbedException($"{input}: no records");

        int total = 0;
        bool ack = records > batchSize || batchSize != int.MaxValue;
        foreach (var b in Batches(input, op, batchSize))
        {
            var embs = b.Embs.Count > 0 ? b.Embs : null;
            switch (op)
            {
                case "add": c.Add(b.Ids, b.Docs, b.Metas, embs); break;
                case "upsert": c.Upsert(b.Ids, b.Docs, b.Metas, embs); break;
                default: c.Update(b.Ids, b.Docs, b.Metas, embs); break;
            }
            total += b.Ids.Count;
            // One acknowledgment line per durable batch (the write is fsynced when this prints).
            if (ack) Console.Out.WriteLine($"committed {b.Ids.Count} {b.Ids[^1]}");
        }
        string verb = op == "add" ? "added" : op == "upsert" ? "upserted" : "updated";
        Console.Out.WriteLine($"{verb} {total} records in {name}");
        return 0;
    }

    /// <summary>
    /// The file's records, parsed and checked, in batches of at most <paramref name="batchSize"/>; one batch in memory
    /// at a time. Lines come from <see cref="TextInput.StreamLines"/>, the one line reader (BOM skipped, invalid UTF-8
    /// named with its line).
    /// </summary>
    private static IEnumerable<Batch> Batches(string input, string op, int batchSize)
    {
        var cur = new Batch();
        using var stream = TextInput.OpenInput(input);
        foreach (var line in TextInput.StreamLines(stream, input))
        {
            if (line.Text.AsSpan().Trim(" \t\r").Length == 0) continue;
            ParseRecord(line.Text, input, line.Number, op, cur);
            if (cur.Ids.Count >= batchSize) { yield return Checked(cur, input); cur = new Batch(); }
        }
        if (cur.Ids.Count > 0) yield return Checked(cur, input);
    }

    private static Batch Checked(Batch b, string input) =>
        b.FirstLineWithEmbedding is { } w && b.FirstLineWithout is { } wo
            ? throw new ManagedEmbedException($"{input}:{Math.Max(w, wo)}: give an embedding on every line of a batch or on none")
            : b;

    private static void ParseRecord(string line, string file, int lineNo, string op, Batch b)
    {
        string where = $"{file}:{lineNo}";
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new ManagedEmbedException($"{where}: not valid JSON ({e.Message.Split('.')[0]})"); }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{where}: expected a JSON object");
            string? id = null, document = null;
            Dictionary<string, MetadataValue>? meta = null;
            float[]? emb = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in r.EnumerateObject())
            {
                // JSON parsers disagree on duplicate keys (the last one won here, silently): refuse them.
                if (!seen.Add(p.Name)) throw new ManagedEmbedException($"{where}: field \"{p.Name}\" appears twice");
                switch (p.Name)
                {
                    case "id":
                        if (p.Value.ValueKind != JsonValueKind.String) throw new ManagedEmbedException($"{where}: \"id\" must be a string");
                        id = GetString(p.Value, where);
                        break;
                    case "document":
                        if (p.Value.ValueKind == JsonValueKind.Null) break;
                        if (p.Value.ValueKind != JsonValueKind.String) throw new ManagedEmbedException($"{where}: \"document\" must be a string");
                        document = GetString(p.Value, where);
                        break;
                    case "metadata":
                        if (p.Value.ValueKind == JsonValueKind.Null) break;
                        meta = ParseMetadata(p.Value, where, allowNull: op != "add");
                        break;
                    case "embedding":
                        if (p.Value.ValueKind == JsonValueKind.Null) break;
                        emb = ParseVector(p.Value, where + ": \"embedding\"");
                        break;
                    default: throw new ManagedEmbedException($"{where}: unknown field \"{p.Name}\" (expected id, document, metadata, embedding)");
                }
            }
            if (id is null) throw new ManagedEmbedException($"{where}: missing \"id\"");
            b.Ids.Add(id);
            b.Docs.Add(document);
            b.Metas.Add(meta);
            if (emb is not null) { b.Embs.Add(emb); b.EmbLines.Add(lineNo); b.FirstLineWithEmbedding ??= lineNo; }
            else b.FirstLineWithout ??= lineNo;
        }
    }

    private static string GetString(JsonElement e, string where)
    {
        try { return e.GetString()!; }
        catch (InvalidOperationException) { throw new ManagedEmbedException($"{where}: string is not valid UTF-8/Unicode"); }
    }

    private static Dictionary<string, MetadataValue> ParseMetadata(JsonElement e, string where, bool allowNull)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{where}: \"metadata\" must be an object");
        var m = new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            MetadataValue v = p.Value.ValueKind switch
            {
                JsonValueKind.String => MetadataValue.From(GetString(p.Value, where)),
                JsonValueKind.True => MetadataValue.From(true),
                JsonValueKind.False => MetadataValue.From(false),
                JsonValueKind.Number when p.Value.TryGetInt64(out long l) => MetadataValue.From(l),
                JsonValueKind.Number when double.IsFinite(p.Value.GetDouble()) => MetadataValue.From(p.Value.GetDouble()),
                JsonValueKind.Null when allowNull => MetadataValue.Null,
                _ => throw new ManagedEmbedException($"{where}: metadata \"{p.Name}\" must be a string, number or bool{(allowNull ? " (or null to remove it)" : "")}"),
            };
            if (!m.TryAdd(p.Name, v)) throw new ManagedEmbedException($"{where}: metadata key \"{p.Name}\" appears twice");
        }
        return m;
    }

    private static float[] ParseVector(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Array) throw new ManagedEmbedException($"{what} must be an array of numbers");
        var v = new float[e.GetArrayLength()];
        int i = 0;
        foreach (var x in e.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number) throw new ManagedEmbedException($"{what}: element {i} is not a number");
            double d = x.GetDouble();
            if (!double.IsFinite(d) || !float.IsFinite((float)d)) throw new ManagedEmbedException($"{what}: element {i} is not a finite float32");
            v[i++] = (float)d;
        }
        return v;
    }

    private static WhereFilter? Where(Args a) => a.Get("--where") is { } w ? WhereFilter.Parse(w) : null;
    private static WhereDocumentFilter? WhereDoc(Args a) => a.Get("--where-document") is { } w ? WhereDocumentFilter.Parse(w) : null;

    private static List<string>? Ids(Args a)
    {
        if (a.Get("--ids") is not { } s) return null;
        var ids = s.Split(',').ToList();
        if (ids.Any(x => x.Length == 0)) throw new ManagedEmbedException("--ids: empty id in the list");
        return ids;
    }

    private static Utf8JsonWriter JsonOut(Stream s) => new(s, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    /// <summary>
    /// Writes <paramref name="count"/> JSON objects to stdout, one per line; <paramref name="writeFields"/> fills object i.
    /// Everything is rendered into memory first (the results are in memory already), so a failure while rendering
    /// leaves stdout empty instead of holding half a result list.
    /// </summary>
    private static void WriteJsonLines(int count, Action<Utf8JsonWriter, int> writeFields)
    {
        var buf = new MemoryStream();
        using (var j = JsonOut(buf))
        {
            for (int i = 0; i < count; i++)
            {
                j.WriteStartObject();
                writeFields(j, i);
                j.WriteEndObject();
                j.Flush();
                buf.WriteByte((byte)'\n');
                j.Reset();
            }
        }
        using var stdout = Console.OpenStandardOutput();
        buf.Position = 0;
        buf.CopyTo(stdout);
        stdout.Flush();
    }

    /// <summary>A float as a JSON number; a stored non-finite value (written by an older membed) is a clear error, not a JSON writer crash.</summary>
    private static void WriteFinite(Utf8JsonWriter j, float x, string what)
    {
        if (!float.IsFinite(x))
            throw new ManagedEmbedException($"{what} is {x.ToString(System.Globalization.CultureInfo.InvariantCulture)}: the collection holds a non-finite embedding; delete or re-add that record");
        j.WriteNumberValue(x);
    }

    private static void WriteMetadata(Utf8JsonWriter j, IReadOnlyDictionary<string, MetadataValue>? m)
    {
        if (m is null) { j.WriteNull("metadata"); return; }
        j.WriteStartObject("metadata");
        foreach (var (k, v) in m)
        {
            switch (v.Kind)
            {
                case MetadataKind.String: j.WriteString(k, v.AsString); break;
                case MetadataKind.Integer: j.WriteNumber(k, v.AsInteger); break;
                case MetadataKind.Float: j.WriteNumber(k, v.AsFloat); break;
                case MetadataKind.Bool: j.WriteBoolean(k, v.AsBool); break;
            }
        }
        j.WriteEndObject();
    }

    private static int Get(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name", "--ids", "--where", "--where-document", "--limit", "--offset"], ["--include-embeddings"]);
        a.NoPositional();
        var ids = Ids(a);
        var where = Where(a);
        var wd = WhereDoc(a);
        int? limit = a.Get("--limit") is null ? null : a.GetInt("--limit", 0, 0);
        int offset = a.GetInt("--offset", 0, 0);
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        var c = Open(store, a.Require("--name"));
        var inc = Include.Documents | Include.Metadatas | (a.Has("--include-embeddings") ? Include.Embeddings : Include.None);
        var r = c.Get(ids, where, wd, limit, offset, inc);
        WriteJsonLines(r.Ids.Count, (j, i) =>
        {
            j.WriteString("id", r.Ids[i]);
            if (r.Documents![i] is { } d) j.WriteString("document", d); else j.WriteNull("document");
            WriteMetadata(j, r.Metadatas![i]);
            if (r.Embeddings is not null)
            {
                j.WriteStartArray("embedding");
                foreach (float x in r.Embeddings[i]) WriteFinite(j, x, $"embedding of id '{r.Ids[i]}'");
                j.WriteEndArray();
            }
        });
        return 0;
    }

    private static int Query(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name", "--text", "--embedding", "--n", "--where", "--where-document", "--min-score"]);
        a.NoPositional();
        if (a.Has("--text") == a.Has("--embedding")) throw new ManagedEmbedException("query needs exactly one of --text or --embedding");
        int n = a.RequireInt("--n", 1);
        double? minScore = a.Has("--min-score") ? a.GetDouble("--min-score", 0) : null;
        var where = Where(a);
        var wd = WhereDoc(a);
        float[]? emb = null;
        if (a.Get("--embedding") is { } es)
        {
            try
            {
                using var jd = JsonDocument.Parse(es);
                emb = ParseVector(jd.RootElement, "--embedding");
            }
            catch (JsonException) { throw new ManagedEmbedException("--embedding must be a JSON array of numbers"); }
        }
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        var c = Open(store, a.Require("--name"));
        var r = emb is not null
            ? c.Query(queryEmbeddings: [emb], nResults: n, where: where, whereDocument: wd, minScore: minScore)
            : c.Query(queryTexts: [a.Get("--text")!], nResults: n, where: where, whereDocument: wd, minScore: minScore);
        WriteJsonLines(r.Ids[0].Count, (j, i) =>
        {
            j.WriteString("id", r.Ids[0][i]);
            j.WritePropertyName("distance");
            WriteFinite(j, r.Distances![0][i], $"distance of id '{r.Ids[0][i]}'");
            if (r.Documents![0][i] is { } d) j.WriteString("document", d); else j.WriteNull("document");
            WriteMetadata(j, r.Metadatas![0][i]);
        });
        return 0;
    }

    private static int Delete(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name", "--ids", "--where", "--where-document"]);
        a.NoPositional();
        var ids = Ids(a);
        var where = Where(a);
        var wd = WhereDoc(a);
        if (ids is null && where is null && wd is null) throw new ManagedEmbedException("delete needs --ids or --where (or --where-document)");
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        var c = Open(store, a.Require("--name"));
        int n = c.Delete(ids, where, wd);
        Console.Out.WriteLine($"deleted {n}");
        return 0;
    }

    private static int Count(string[] argv)
    {
        var a = Args.Parse(argv, ["--path", "--name"]);
        a.NoPositional();
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        var c = Open(store, a.Require("--name"));
        Console.Out.WriteLine($"count {c.Count()}");
        return 0;
    }

    private static int List(string[] argv)
    {
        var a = Args.Parse(argv, ["--path"]);
        a.NoPositional();
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        foreach (var n in store.ListCollections()) Console.Out.WriteLine(n);
        return 0;
    }
}
