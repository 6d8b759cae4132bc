namespace EdgeTvq.Runtime;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine("edgetvq");
        return 0;
    }
}
