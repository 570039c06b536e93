"""Input files: presigned uploads, and content sniffing on completion (the declared type is never trusted)."""

from agentlab.uploads.service import complete_upload, create_upload
from agentlab.uploads.sniff import sniff_content_type

__all__ = ["complete_upload", "create_upload", "sniff_content_type"]
