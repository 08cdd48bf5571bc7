"""Generic neural building blocks (the residual U-Net with optional conditioning, per-segment pooling, an MLP, a
patch discriminator, activations that export to fast ONNX graphs, a screen-space estimate of bounced light), shared by
the families and never importing them."""
