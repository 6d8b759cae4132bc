namespace EdgeTvq.Bundle;

/// <summary>
/// One tensor's menu for the budget allocator: for every width configuration k (fq/tvq: b = k + 1; rtvq:
/// b_b = k / 8 + 1, b_o = k % 8 + 1) the bytes its records take in all files together and the measured error
/// Σ_t ‖τ_t − τ̂_t‖² summed over the tasks, times the tensor's sensitivity weight.
/// </summary>
public sealed record TensorMenu(string Name, long Elements, long[] Cost, double[] Error);

/// <summary>The allocator's answer: a configuration index per menu and what it costs.</summary>
public sealed record AllocationChoice(int[] Choice, long Bytes, double Error, string Start);

/// <summary>
/// Picks one configuration per tensor so that the weighted error Σ_i E_i(k_i) is as small as the allocator can make
/// it while fixed + Σ_i C_i(k_i) ≤ budget (a multiple-choice knapsack). Three starts, the best result kept:
/// <list type="number">
/// <item>greedy over each tensor's lower convex hull of (bytes, error) from the cheapest configuration, taking the
/// step with the largest error decrease per byte that still fits (the Lagrangian relaxation's path);</item>
/// <item>every uniform configuration (the same k for every tensor) that fits;</item>
/// </list>
/// each followed by a fill: while some single change of one tensor lowers the error and fits the bytes left, take
/// the one with the best decrease per byte (a change that lowers the error for no extra bytes first). Because the
/// uniform allocations are starts and the fill only lowers the error, the result is never worse than the best
/// uniform allocation that fits the budget.
/// </summary>
public static class BitAllocator
{
    public static AllocationChoice Allocate(IReadOnlyList<TensorMenu> menus, long fixedBytes, long budgetBytes)
    {
        int n = menus.Count;
        int k = n == 0 ? 1 : menus[0].Cost.Length;
        var cheapest = new int[n];
        long minimum = fixedBytes;
        for (int i = 0; i < n; i++)
        {
            if (menus[i].Cost.Length != k || menus[i].Error.Length != k) throw new ArgumentException("every menu needs the same configurations");
            cheapest[i] = Cheapest(menus[i]);
            minimum += menus[i].Cost[cheapest[i]];
        }
        if (minimum > budgetBytes)
            throw new ArgumentException($"the budget of {budgetBytes:N0} bytes is below the smallest bundle these checkpoints allow ({minimum:N0} bytes: every tensor at its narrowest width, headers, metadata and float32 tensors included)");

        var best = Evaluate(menus, Fill(menus, Hull(menus, cheapest, budgetBytes - minimum), fixedBytes, budgetBytes), fixedBytes, "convex-hull greedy");
        for (int u = 0; u < k; u++)
        {
            var uniform = Enumerable.Repeat(u, n).ToArray();
            if (Bytes(menus, uniform, fixedBytes) > budgetBytes) continue;
            var c = Evaluate(menus, Fill(menus, uniform, fixedBytes, budgetBytes), fixedBytes, $"uniform configuration {u}");
            if (c.Error < best.Error || (c.Error == best.Error && c.Bytes < best.Bytes)) best = c;
        }
        return best;
    }

    private static int Cheapest(TensorMenu m)
    {
        int best = 0;
        for (int j = 1; j < m.Cost.Length; j++)
            if (m.Cost[j] < m.Cost[best] || (m.Cost[j] == m.Cost[best] && m.Error[j] < m.Error[best])) best = j;
        return best;
    }

    public static long Bytes(IReadOnlyList<TensorMenu> menus, int[] choice, long fixedBytes)
    {
        long total = fixedBytes;
        for (int i = 0; i < menus.Count; i++) total += menus[i].Cost[choice[i]];
        return total;
    }

    public static double Error(IReadOnlyList<TensorMenu> menus, int[] choice)
    {
        double total = 0;
        for (int i = 0; i < menus.Count; i++) total += menus[i].Error[choice[i]];
        return total;
    }

    private static AllocationChoice Evaluate(IReadOnlyList<TensorMenu> menus, int[] choice, long fixedBytes, string start) =>
        new(choice, Bytes(menus, choice, fixedBytes), Error(menus, choice), start);

    /// <summary>The lower convex hull of a menu from its cheapest point: configurations in order of bytes, each step lowering the error at a falling rate.</summary>
    private static List<int> HullOf(TensorMenu m, int start)
    {
        var order = Enumerable.Range(0, m.Cost.Length).Where(j => m.Cost[j] > m.Cost[start] && m.Error[j] < m.Error[start])
            .OrderBy(j => m.Cost[j]).ThenBy(j => m.Error[j]).ToList();
        var hull = new List<int> { start };
        foreach (int j in order)
        {
            if (m.Error[j] >= m.Error[hull[^1]]) continue; // not better than a cheaper point
            if (m.Cost[j] == m.Cost[hull[^1]]) continue;
            // Drop the last point while it lies on or above the segment from the one before it to j.
            while (hull.Count >= 2)
            {
                int a = hull[^2], b = hull[^1];
                double slopeAb = (m.Error[a] - m.Error[b]) / (double)(m.Cost[b] - m.Cost[a]);
                double slopeAj = (m.Error[a] - m.Error[j]) / (double)(m.Cost[j] - m.Cost[a]);
                if (slopeAj >= slopeAb) hull.RemoveAt(hull.Count - 1);
                else break;
            }
            hull.Add(j);
        }
        return hull;
    }

    private static int[] Hull(IReadOnlyList<TensorMenu> menus, int[] cheapest, long spare)
    {
        var choice = (int[])cheapest.Clone();
        var hulls = menus.Select((m, i) => HullOf(m, cheapest[i])).ToArray();
        var position = new int[menus.Count];
        var queue = new PriorityQueue<int, double>();
        double Slope(int i)
        {
            var (m, h, p) = (menus[i], hulls[i], position[i]);
            return -(m.Error[h[p]] - m.Error[h[p + 1]]) / Math.Max(1, m.Cost[h[p + 1]] - m.Cost[h[p]]);
        }
        for (int i = 0; i < menus.Count; i++)
            if (hulls[i].Count > 1) queue.Enqueue(i, Slope(i));
        while (queue.TryDequeue(out int i, out _))
        {
            var (m, h) = (menus[i], hulls[i]);
            long step = m.Cost[h[position[i] + 1]] - m.Cost[h[position[i]]];
            if (step > spare) continue; // this tensor's later steps cost more still; the fill looks at its other points
            spare -= step;
            choice[i] = h[++position[i]];
            if (position[i] + 1 < h.Count) queue.Enqueue(i, Slope(i));
        }
        return choice;
    }

    /// <summary>Single-tensor changes that lower the error and fit, best decrease per byte first, until none is left.</summary>
    private static int[] Fill(IReadOnlyList<TensorMenu> menus, int[] choice, long fixedBytes, long budgetBytes)
    {
        choice = (int[])choice.Clone();
        long spare = budgetBytes - Bytes(menus, choice, fixedBytes);
        while (true)
        {
            int bestI = -1, bestJ = -1;
            double bestRate = 0;
            for (int i = 0; i < menus.Count; i++)
            {
                var m = menus[i];
                int c = choice[i];
                for (int j = 0; j < m.Cost.Length; j++)
                {
                    double gain = m.Error[c] - m.Error[j];
                    long extra = m.Cost[j] - m.Cost[c];
                    if (gain <= 0 || extra > spare) continue;
                    double rate = extra <= 0 ? double.PositiveInfinity : gain / extra;
                    if (bestI < 0 || rate > bestRate || (rate == bestRate && gain > menus[bestI].Error[choice[bestI]] - menus[bestI].Error[bestJ]))
                        (bestI, bestJ, bestRate) = (i, j, rate);
                }
            }
            if (bestI < 0) return choice;
            spare -= menus[bestI].Cost[bestJ] - menus[bestI].Cost[choice[bestI]];
            choice[bestI] = bestJ;
        }
    }
}
