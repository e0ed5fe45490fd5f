"""What a pruned model becomes after training: compact storage (bitmask, CSR, structured),
sparse CPU execution, and the latency protocol (blocks, spreads, the null test) that times
it. Counting (sparsity, MACs, bytes) lives in ``pruning.measure``."""
