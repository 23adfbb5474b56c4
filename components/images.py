"""The images the components run in on a cluster (built from docker/; set at compile time by environment)."""
import os

APP_IMAGE = os.environ.get("GHSUMM_APP_IMAGE", "ghcr.io/ghsumm/ghsumm-app:0.1.0")
T2T_IMAGE = os.environ.get("GHSUMM_T2T_IMAGE", "ghcr.io/ghsumm/ghsumm-t2t:0.1.0")
