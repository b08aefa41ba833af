"""Layer 1, data: the datasets, from upstream files to tensors on the device.

Owns the registry of datasets with their checksums (`datasets`), fetching and verifying upstream
files (`fetch`; file digests in `checksums`), converting them into the canonical prepared .npz
(`prepare`), and loading that file as device-resident train/test splits (`splits`).
May import: core.
"""
