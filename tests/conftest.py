from __future__ import annotations

import os

# The Tea SDK's credential chain is read at import and may reach for the ECS metadata
# address; tests always pass explicit credentials, so switch the network providers off.
os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
