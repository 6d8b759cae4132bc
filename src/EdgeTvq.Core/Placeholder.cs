namespace EdgeTvq; internal static class Placeholder {}
