"""The G-buffer renderer body shared by V2-Ultra, V2-Optimized and WS5: config, U-Net trunk with frame and material
heads, the G-buffer processor and the ONNX Runtime renderer."""
