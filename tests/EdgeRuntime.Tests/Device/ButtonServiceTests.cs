using System.Device.Gpio;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Device;
using EdgeTvq.Runtime.Tests.Http;
using EdgeTvq.Runtime.Tests.Zoo;

namespace EdgeTvq.Runtime.Tests.Device;

/// <summary>The task button and status LED on a running service (the quick zoo), over a fake GPIO chip and a manual clock.</summary>
[Collection(ZooBundleCollection.Name)]
public class ButtonServiceTests(ZooBundle zb)
{
    [Fact]
    public async Task Short_presses_cycle_the_tasks_a_long_press_restores_the_start_recipe_and_the_led_follows_every_switch()
    {
        var driver = new FakeGpioDriver();
        var time = new ManualTime();
        var start = MergeRecipe.TaskArithmetic(zb.Zoo.Tasks.Select(t => t.Name));
        await using var s = await Served.StartAsync(zb, start);
        using var devices = DeviceServices.Open(new DeviceSettings { Button = "gpiochip0:17", Led = "gpiochip0:27" }, time, _ => new GpioController(driver));
        var led = devices.Led!;
        var states = new List<LedState>();
        led.Changed += states.Add;
        devices.Attach(s.Service.Router, start);
        Assert.Equal(LedState.On, led.State);
        Assert.Equal(PinValue.High, driver.ValueOf(27));

        async Task Press(double ms)
        {
            var before = devices.Tasks!.Last;
            driver.Drive(17, PinValue.Low);
            time.AdvanceMs(ms);
            driver.Drive(17, PinValue.High);
            time.AdvanceMs(100);
            Assert.NotSame(before, devices.Tasks.Last); // the press was taken
            await devices.Tasks.Last!;
        }

        // From the merged start model: the first task, then the next ones in manifest order, wrapping after the last.
        var order = new List<string>();
        for (int i = 0; i <= s.Tasks.Count; i++)
        {
            await Press(200);
            order.Add(s.Service.Router.LiveRecipeObject().Task!);
        }
        Assert.Equal([.. s.Tasks, s.Tasks[0]], order);
        Assert.Equal(MergeRecipe.Individual(s.Tasks[0]).ToString(), s.Service.Router.LiveRecipe());
        // Each switch: blinking, then on again.
        Assert.Equal(Enumerable.Range(0, s.Tasks.Count + 1).SelectMany(_ => new[] { LedState.Blinking, LedState.On }), states.Skip(1));

        await Press(2000); // long
        Assert.Equal(start.ToString(), s.Service.Router.LiveRecipe());
        Assert.Equal(LedState.On, led.State);
        var metrics = await s.Unix.GetStringAsync("/metrics");
        Assert.Contains($"edgetvq_switches_total{{reason=\"button\"}} {s.Tasks.Count + 2}\n", metrics);

        // A failed switch (here an HTTP-side load of a recipe the bundle cannot build) turns the LED off; the old model
        // still serves; the next good switch turns it on again.
        states.Clear();
        await Assert.ThrowsAnyAsync<Exception>(() => s.Service.Router.LoadAsync(MergeRecipe.Individual("no-such-task"), force: true, CancellationToken.None));
        Assert.Equal([LedState.Blinking, LedState.Off], states);
        Assert.Equal(PinValue.Low, driver.ValueOf(27));
        Assert.Equal(start.ToString(), s.Service.Router.LiveRecipe());
        await Press(200);
        Assert.Equal(LedState.On, led.State);
        Assert.Equal(MergeRecipe.Individual(s.Tasks[0]).ToString(), s.Service.Router.LiveRecipe());

        devices.Dispose();
        Assert.Equal(PinValue.Low, driver.Writes.Last(w => w.Pin == 27).Value); // off when the service stops
    }

    [Fact]
    public async Task A_press_while_the_buttons_switch_runs_is_ignored()
    {
        var start = MergeRecipe.Individual(zb.Zoo.Tasks.First().Name);
        await using var s = await Served.StartAsync(zb, start);
        var tasks = new ButtonTasks(s.Service.Router, start);
        var first = tasks.Press(ButtonPress.Short);
        var second = tasks.Press(ButtonPress.Short); // usually still running: ignored (null); never a second switch at once
        await first!;
        if (second is not null) await second;
        var expected = second is null ? 1 : 2;
        Assert.Equal(MergeRecipe.Individual(s.Tasks[expected]).ToString(), s.Service.Router.LiveRecipe());
    }
}
