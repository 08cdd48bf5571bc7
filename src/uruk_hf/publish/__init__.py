"""Assembling and uploading the published Hub repo folder (DESIGN §5)."""
