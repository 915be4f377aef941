"""FAISS side of the interop tests (run with Debian's /usr/bin/python3, which has python3-faiss).

  search INDEX QUERIES.fvecs K NPROBE OUT_PREFIX   -> faiss.read_index + search; writes OUT_PREFIX.labels (int64)
                                                      and OUT_PREFIX.dist (float32), row-major [nq, k]
  build KIND METRIC BASE.fvecs NLIST SEED OUT_INDEX -> builds IndexFlatIP/L2 or IndexIVFFlat with faiss, writes it
  hnsw-build METRIC BASE.fvecs M EF_CONSTRUCTION EF_SEARCH OUT_INDEX OUT_PREFIX
                                                    -> builds IndexHNSWFlat (one thread, so the graph is
                                                       deterministic), writes it, and dumps FAISS's in-memory
                                                       hnsw.levels / offsets / neighbors (int32/int64/int32) and
                                                       assign_probas (float64) plus "entry max" to OUT_PREFIX.*
  hnsw-search INDEX QUERIES.fvecs K EF_SEARCH OUT_PREFIX -> as search, with hnsw.efSearch set (0: keep the file's)
"""
import sys
import numpy as np
import faiss


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


def main():
    faiss.omp_set_num_threads(1)
    cmd = sys.argv[1]
    if cmd == "search":
        index = faiss.read_index(sys.argv[2])
        q = read_fvecs(sys.argv[3])
        k, nprobe = int(sys.argv[4]), int(sys.argv[5])
        if nprobe > 0:
            faiss.extract_index_ivf(index).nprobe = nprobe
        D, I = index.search(q, k)
        I.astype(np.int64).tofile(sys.argv[6] + ".labels")
        D.astype(np.float32).tofile(sys.argv[6] + ".dist")
    elif cmd == "build":
        kind, metric = sys.argv[2], sys.argv[3]
        x = read_fvecs(sys.argv[4])
        nlist, seed = int(sys.argv[5]), int(sys.argv[6])
        mt = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        d = x.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
        else:
            # "ip-l2q": an inner-product IVF with an L2 quantizer, as some tutorials build it.
            quant = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
            if metric == "ip-l2q":
                mt = faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexIVFFlat(quant, d, nlist, mt)
            index.cp.seed = seed
            index.train(x)
            index.own_fields = True
            quant.this.disown()
        index.add(x)
        if len(sys.argv) > 8 and sys.argv[8] == "direct-map":
            index.make_direct_map()
        faiss.write_index(index, sys.argv[7])
    elif cmd == "hnsw-build":
        metric, x = sys.argv[2], read_fvecs(sys.argv[3])
        m, efc, efs = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        mt = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(x.shape[1], m, mt)
        index.hnsw.efConstruction = efc
        index.hnsw.efSearch = efs
        index.add(x)
        faiss.write_index(index, sys.argv[7])
        h, out = index.hnsw, sys.argv[8]
        faiss.vector_to_array(h.levels).astype(np.int32).tofile(out + ".levels")
        faiss.vector_to_array(h.offsets).astype(np.int64).tofile(out + ".offsets")
        faiss.vector_to_array(h.neighbors).astype(np.int32).tofile(out + ".neighbors")
        faiss.vector_to_array(h.assign_probas).astype(np.float64).tofile(out + ".probas")
        np.array([h.entry_point, h.max_level], np.int32).tofile(out + ".entry")
    elif cmd == "hnsw-search":
        index = faiss.read_index(sys.argv[2])
        q = read_fvecs(sys.argv[3])
        k, efs = int(sys.argv[4]), int(sys.argv[5])
        if efs > 0:
            index.hnsw.efSearch = efs
        D, I = index.search(q, k)
        I.astype(np.int64).tofile(sys.argv[6] + ".labels")
        D.astype(np.float32).tofile(sys.argv[6] + ".dist")
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
