"""Assemble the published repo folder from a `uruk pipeline` folder (same as `uruk publish build`), then upload it
with the Hub CLI:

    python upload/build_hub_folder.py --runs RUNS_DIR --output hub_folder [--repo-id ORG/NAME]
    huggingface-cli upload ORG/NAME hub_folder .      # or: hf upload ORG/NAME hub_folder .
"""

import sys

from uruk_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["publish", "build", *sys.argv[1:]]))
