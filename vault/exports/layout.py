"""Where things live inside a bundle; shared by the builder and the standalone verifier (standard library only)."""

from __future__ import annotations

BAGIT_FILE = "bagit.txt"
BAG_INFO_FILE = "bag-info.txt"
SM3_TAG_FILE = "metadata/digests-sm3.txt"
CASE_FILE = "metadata/case.json"
RECORDS_DIR = "metadata/records/"
# The spec (provenance) of every derived copy in data/: redacted versions and watermarked copies.
DERIVATIVES_DIR = "metadata/derivatives/"
# Originals whose bytes are not in data/, each with its SHA-256 and why (withheld, or replaced by a derived copy).
WITHHELD_FILE = "metadata/withheld.json"
CHECKPOINT_FILE = "custody/checkpoint.json"
EVENTS_FILE = "custody/events.json"
PUBLIC_KEY_FILE = "custody/vault-public-key.pem"
EXPLANATION_TEXT = "explanation/explanation.txt"
EXPLANATION_HTML = "explanation/explanation.html"
# The offline verifier itself (evault_client/verify_bundle.py), listed in the tag manifests like any tag file.
VERIFIER_FILE = "verify_bundle.py"
# The signature covers tagmanifest-sha256.txt, which lists every manifest and tag file above.
SIGNED_FILE = "tagmanifest-sha256.txt"
SIGNATURE_FILE = "signature/tagmanifest-sha256.txt.sig"
TIMESTAMP_FILE = "signature/tagmanifest-sha256.txt.sig.tsr"
TSA_CERTS_FILE = "signature/tsa-certificates.pem"
UNLISTED_PREFIXES = ("tagmanifest-", "signature/")
