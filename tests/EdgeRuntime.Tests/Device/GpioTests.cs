using System.Device.Gpio;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Device;

namespace EdgeTvq.Runtime.Tests.Device;

/// <summary>The button's press logic, the LED and the GPIO start-up checks, on a fake driver and a manual clock (no sleeping).</summary>
public class GpioTests
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(30), Long = TimeSpan.FromMilliseconds(1500);
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Bounces_within_the_window_are_ignored_and_a_glitch_is_no_press()
    {
        var d = new PressDetector(Debounce, Long);
        // A press that bounces for 9 ms: one press, dated at its first edge.
        foreach (var (level, at) in new[] { (true, 0.0), (false, 2), (true, 4), (false, 7), (true, 9) }) Assert.Null(d.Edge(level, Ms(at)));
        Assert.Equal(Ms(39), d.NextDue);
        Assert.Null(d.Poll(Ms(38.9)));
        Assert.False(d.Pressed); // not settled yet
        Assert.Null(d.Poll(Ms(39)));
        Assert.True(d.Pressed);
        Assert.Equal(Ms(1500), d.NextDue); // the long-press moment, counted from the first edge
        // The release bounces too: one short press when it settles.
        foreach (var (level, at) in new[] { (false, 300.0), (true, 301), (false, 305) }) d.Edge(level, Ms(at));
        Assert.Null(d.Poll(Ms(320)));
        Assert.Equal(ButtonPress.Short, d.Poll(Ms(335)));
        Assert.False(d.Pressed);
        Assert.Null(d.NextDue);
        // A 5 ms spike that ends where it started is a glitch.
        d.Edge(true, Ms(1000));
        d.Edge(false, Ms(1005));
        Assert.Null(d.Poll(Ms(2000)));
        Assert.False(d.Pressed);
        Assert.Null(d.NextDue);
    }

    [Fact]
    public void A_press_held_for_the_long_time_is_long_at_that_moment_and_its_release_reports_nothing()
    {
        var d = new PressDetector(Debounce, Long);
        d.Edge(true, Ms(2000));
        Assert.Null(d.Poll(Ms(2030)));
        Assert.Null(d.Poll(Ms(3499)));
        Assert.Equal(ButtonPress.Long, d.Poll(Ms(3500)));
        Assert.Null(d.Poll(Ms(3600)));
        d.Edge(false, Ms(5000));
        Assert.Null(d.Poll(Ms(5030)));
        Assert.False(d.Pressed);
        // Polled late (no poll while held): the release settles the press first and reports Long, by the press's length.
        Assert.Null(d.Edge(true, Ms(6000)));
        Assert.Equal(ButtonPress.Long, d.Edge(false, Ms(7600)));
        Assert.Null(d.Poll(Ms(7700)));
        Assert.False(d.Pressed);
        // Not polled at all: each edge settles the quiet level before it and reports what that completed.
        Assert.Null(d.Edge(true, Ms(7800)));
        Assert.Null(d.Edge(false, Ms(7900)));
        Assert.Equal(ButtonPress.Short, d.Edge(true, Ms(8000)));
        Assert.Null(d.Edge(false, Ms(8010))); // a 10 ms glitch
        Assert.Null(d.Poll(Ms(8100)));
        Assert.False(d.Pressed);
        // Just under the long time: short.
        d.Edge(true, Ms(9000));
        Assert.Null(d.Poll(Ms(9100)));
        d.Edge(false, Ms(10_499));
        Assert.Equal(ButtonPress.Short, d.Poll(Ms(10_529)));
    }

    [Fact]
    public void A_button_held_at_start_reports_nothing_until_released()
    {
        var d = new PressDetector(Debounce, Long, pressedAtStart: true);
        Assert.Null(d.Poll(Ms(10_000)));
        d.Edge(false, Ms(10_000));
        Assert.Null(d.Poll(Ms(10_030)));
        d.Edge(true, Ms(11_000));
        d.Edge(false, Ms(11_100));
        Assert.Null(d.Poll(Ms(11_030))); // still bouncing until 11_130
        Assert.Equal(ButtonPress.Short, d.Poll(Ms(11_130)));
    }

    [Fact]
    public void Bad_timings_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new PressDetector(Ms(30), Ms(30)));
        Assert.Throws<ArgumentException>(() => new PressDetector(Ms(-1), Ms(30)));
    }

    private static (FakeGpioDriver Driver, GpioController Controller, ManualTime Time, List<ButtonPress> Presses, TaskButton Button) Button(bool activeHigh = false, bool pull = true)
    {
        var driver = new FakeGpioDriver { SupportsPull = pull };
        var controller = new GpioController(driver);
        var time = new ManualTime();
        var presses = new List<ButtonPress>();
        if (activeHigh) driver.Drive(17, PinValue.Low);
        var button = new TaskButton(controller, GpioLine.Parse("--button", "gpiochip0:17"), activeHigh, Debounce, Long, presses.Add, time);
        return (driver, controller, time, presses, button);
    }

    [Fact]
    public void The_task_button_on_a_gpio_line_debounces_and_tells_short_from_long_presses()
    {
        var (driver, controller, time, presses, button) = Button();
        using var _ = controller;
        using var __ = button;
        Assert.Equal(PinMode.InputPullUp, driver.ModeOf(17)); // active low: pulled up
        // Short press with bounces on both edges (active low: pressed = Low).
        foreach (var v in new[] { PinValue.Low, PinValue.High, PinValue.Low }) { driver.Drive(17, v); time.AdvanceMs(2); }
        time.AdvanceMs(40);
        Assert.True(button.Pressed);
        Assert.Empty(presses);
        time.AdvanceMs(200);
        foreach (var v in new[] { PinValue.High, PinValue.Low, PinValue.High }) { driver.Drive(17, v); time.AdvanceMs(3); }
        time.AdvanceMs(26);
        Assert.Empty(presses); // 29 ms after the last bounce
        time.AdvanceMs(1);
        Assert.Equal([ButtonPress.Short], presses);
        // Long press: reported by the timer at 1.5 s, while still held.
        driver.Drive(17, PinValue.Low);
        time.AdvanceMs(1499);
        Assert.Equal([ButtonPress.Short], presses);
        time.AdvanceMs(1);
        Assert.Equal([ButtonPress.Short, ButtonPress.Long], presses);
        time.AdvanceMs(3000);
        driver.Drive(17, PinValue.High);
        time.AdvanceMs(100);
        Assert.Equal([ButtonPress.Short, ButtonPress.Long], presses);
        // A glitch shorter than the window: nothing.
        driver.Drive(17, PinValue.Low);
        time.AdvanceMs(5);
        driver.Drive(17, PinValue.High);
        time.AdvanceMs(100);
        Assert.Equal(2, presses.Count);
        Assert.False(button.Pressed);
    }

    [Fact]
    public void Active_high_buttons_are_pulled_down_and_a_driver_without_bias_gets_a_plain_input()
    {
        var (driver, controller, time, presses, button) = Button(activeHigh: true);
        using (controller)
        using (button)
        {
            Assert.Equal(PinMode.InputPullDown, driver.ModeOf(17));
            driver.Drive(17, PinValue.High);
            time.AdvanceMs(100);
            driver.Drive(17, PinValue.Low);
            time.AdvanceMs(100);
            Assert.Equal([ButtonPress.Short], presses);
        }
        var plain = Button(pull: false);
        using (plain.Controller)
        using (plain.Button)
            Assert.Equal(PinMode.Input, plain.Driver.ModeOf(17));
    }

    [Fact]
    public void The_status_led_is_on_blinks_during_a_switch_and_is_off_on_error_and_at_the_end()
    {
        var driver = new FakeGpioDriver();
        using var controller = new GpioController(driver);
        var time = new ManualTime();
        var led = new StatusLed(controller, GpioLine.Parse("--led", "gpiochip0:27"), time);
        Assert.Equal(PinMode.Output, driver.ModeOf(27));
        Assert.Equal(PinValue.Low, driver.ValueOf(27));
        led.Set(LedState.On);
        Assert.Equal(PinValue.High, driver.ValueOf(27));
        time.AdvanceMs(1000);
        Assert.Equal(PinValue.High, driver.ValueOf(27)); // steady
        led.Set(LedState.Blinking);
        var seen = new List<PinValue>();
        for (int i = 0; i < 4; i++) { seen.Add(driver.ValueOf(27)); time.Advance(StatusLed.BlinkHalfPeriod); }
        Assert.Equal([PinValue.High, PinValue.Low, PinValue.High, PinValue.Low], seen);
        led.Set(LedState.On);
        Assert.Equal(PinValue.High, driver.ValueOf(27));
        time.AdvanceMs(1000);
        Assert.Equal(PinValue.High, driver.ValueOf(27)); // blinking stopped
        led.Set(LedState.Off);
        Assert.Equal(PinValue.Low, driver.ValueOf(27));
        led.Set(LedState.On);
        led.Dispose();
        Assert.Equal(PinValue.Low, driver.ValueOf(27));
        Assert.Equal(LedState.Off, led.State);
    }

    [Fact]
    public void A_short_press_moves_to_the_next_task_in_manifest_order_and_wraps()
    {
        string[] tasks = ["a", "b", "c"];
        Assert.Equal("b", ButtonTasks.NextTask(tasks, MergeRecipe.Individual("a")));
        Assert.Equal("c", ButtonTasks.NextTask(tasks, MergeRecipe.Individual("b")));
        Assert.Equal("a", ButtonTasks.NextTask(tasks, MergeRecipe.Individual("c")));
        Assert.Equal("a", ButtonTasks.NextTask(tasks, MergeRecipe.TaskArithmetic(tasks))); // a merged model: the first task
        Assert.Equal("a", ButtonTasks.NextTask(tasks, MergeRecipe.Individual("gone"))); // a task an update removed
        Assert.Equal(MergeRecipe.Individual("b").ToString(), ButtonTasks.RecipeAfter(tasks, MergeRecipe.Individual("a")).ToString());
    }

    [Fact]
    public void Chip_and_line_parse_and_a_missing_chip_is_an_error_naming_option_line_and_path()
    {
        Assert.Equal(new GpioLine("--button", 0, 17), GpioLine.Parse("--button", "gpiochip0:17"));
        Assert.Equal(new GpioLine("--led", 2, 5), GpioLine.Parse("--led", "2:5"));
        foreach (var bad in new[] { "17", "gpiochip0", "gpiochip0:x", "chip0:1", ":1", "gpiochip0:-1" })
            Assert.Contains("give CHIP:LINE", Assert.Throws<ArgumentException>(() => GpioLine.Parse("--button", bad)).Message);

        var dev = Path.Combine(Path.GetTempPath(), "edgetvq-dev-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dev);
        try
        {
            var e = Assert.Throws<IOException>(() => GpioLine.Parse("--button", "gpiochip0:17").OpenController(dev));
            Assert.StartsWith($"--button gpiochip0:17: {Path.Combine(dev, "gpiochip0")} does not exist (this machine has no GPIO chip device)", e.Message);
            File.WriteAllText(Path.Combine(dev, "gpiochip1"), "");
            File.WriteAllText(Path.Combine(dev, "gpiochip2"), "");
            e = Assert.Throws<IOException>(() => GpioLine.Parse("--led", "gpiochip0:27").OpenController(dev));
            Assert.Contains($"--led gpiochip0:27: {Path.Combine(dev, "gpiochip0")} does not exist (this machine has gpiochip1, gpiochip2)", e.Message);
            // Through serve's device settings: checked before anything is served.
            e = Assert.Throws<IOException>(() => DeviceServices.Open(new DeviceSettings { Button = "gpiochip0:17", DevDir = dev }));
            Assert.Contains("--button gpiochip0:17:", e.Message);
        }
        finally { Directory.Delete(dev, recursive: true); }
        Assert.Throws<ArgumentException>(() => DeviceServices.Open(new DeviceSettings { Button = "0:3", Led = "gpiochip0:3" }));
        Assert.Throws<ArgumentException>(() => DeviceServices.Open(new DeviceSettings { Button = "0:3", ButtonLongMs = 20, ButtonDebounceMs = 30 }));
    }
}
