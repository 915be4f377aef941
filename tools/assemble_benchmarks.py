#!/usr/bin/env python3
# Assembles BENCHMARKS.md from the per-area result notes docs/bench-*.md (run from the repo root).
import re
parts=[('encoder','Encoder vs ONNX Runtime (issue 3)'),('index','Vector index vs FAISS (issue 4)'),('collections','Collections at scale (issue 5)'),('product','The binary: size, cold start, RSS (issue 6)'),('tokenizer','Tokenizer throughput')]
out=["""# BENCHMARKS

Every figure here was measured on this project's build machine, in one session on 2026-11-24:
AMD EPYC (Zen 5, family 26) under KVM, **2 cores**, 1 thread per core, AVX-512 F/BW/DQ/VL/VNNI/BF16, L2 1 MiB per
core, L3 32 MiB, clock measured at 4.52 GHz (fp32 peak 289 GFLOP/s per core), 24 GiB; Debian 12, .NET SDK 10.0.401.
The machine was shared with other builds during the session: every comparison is **side by side in one run, on the
same inputs**, quoted as medians and ratios; absolute times are indicative only. Speed goals live here, never in
unit tests.

| section | peer | how to re-run |
|---|---|---|
| [Encoder](#encoder-vs-onnx-runtime-issue-3) | ONNX Runtime 1.31.1 (NuGet, CPU EP) | `benchmarks/run-encoder-peer.sh --seconds 5 --rounds 3`, `benchmarks/run-encoder-rss.sh` |
| [Kernels](#encoder-vs-onnx-runtime-issue-3) | machine peak | `dotnet run -c Release --project benchmarks/ManagedEmbed.Benchmarks -- --filter '*'` |
| [Index](#vector-index-vs-faiss-issue-4) | FAISS 1.7.3 (Debian python3-faiss, OpenBLAS) | `benchmarks/index-peer/run.sh DIR` |
| [Collections](#collections-at-scale-issue-5) | — (ChromaDB is not installable here) | `dotnet run -c Release --project benchmarks/collections-scale -- --n 1000000 --dim 384 --dir DIR` |
| [Binary](#the-binary-size-cold-start-rss-issue-6) | ONNX Runtime session creation | `tools/bench_cold_start.py BINARY MODEL --runs N` |
| [Tokenizer](#tokenizer-throughput) | Microsoft.ML.Tokenizers 2.0.1 BertTokenizer | BenchmarkDotNet `--filter '*TokenizerBenchmarks*'` |
"""]
for name,title in parts:
    s=open(f'docs/bench-{name}.md').read()
    lines=s.split('\n')
    if lines[0].startswith('# ') or lines[0].startswith('## '): lines=lines[1:]
    body='\n'.join(lines)
    # demote headings by one level so each part nests under its section
    levels=[len(m.group(1)) for m in re.finditer(r'^(#+) ', body, flags=re.M)]
    shift=3-min(levels) if levels else 0
    body=re.sub(r'^(#+) ', lambda m: '#'*min(len(m.group(1))+shift,6)+' ', body, flags=re.M)
    out.append(f"\n## {title}\n\n_Source: docs/bench-{name}.md_\n"+body.strip()+"\n")
open('BENCHMARKS.md','w').write('\n'.join(out))
