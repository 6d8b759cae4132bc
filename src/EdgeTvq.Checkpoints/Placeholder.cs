namespace EdgeTvq.Checkpoints; internal static class Placeholder {}
