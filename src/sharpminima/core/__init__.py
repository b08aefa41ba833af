"""Layer 0, core: what every layer uses and nothing scientific.

Owns atomic artifact writes (`atomic`), the run-folder layout and the one spelling of eps in
names (`layout`), provenance records (`provenance`), the code hash behind figure rerun triggers
(`codehash`), GPU slot pinning (`gpuslots`) and the config checks the JSON schema cannot express
(`configcheck`). May import: nothing.
"""
