"""Training: clip data, the recurrent history unroll, losses and the stage loop shared by the Accelerate scripts."""
