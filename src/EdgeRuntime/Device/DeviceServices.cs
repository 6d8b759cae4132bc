using System.Device.Gpio;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Http;

namespace EdgeTvq.Runtime.Device;

/// <summary>serve's device options; everything is off unless named.</summary>
public sealed record DeviceSettings
{
    /// <summary>--button CHIP:LINE: the task button.</summary>
    public string? Button { get; init; }
    public bool ButtonActiveHigh { get; init; }
    public int ButtonLongMs { get; init; } = 1500;
    public int ButtonDebounceMs { get; init; } = 30;
    /// <summary>--led CHIP:LINE: the status LED.</summary>
    public string? Led { get; init; }
    /// <summary>--telemetry: thermal zones and INA3221 rails in /metrics and GET /v2.</summary>
    public bool Telemetry { get; init; }
    public string SysfsRoot { get; init; } = SysfsTelemetry.DefaultRoot;
    /// <summary>Where the gpiochipN devices are (the tests point it elsewhere).</summary>
    public string DevDir { get; init; } = "/dev";

    public bool Any => Button is not null || Led is not null || Telemetry;
}

/// <summary>
/// The telemetry reader, task button and status LED of one serve process. <see cref="Open"/> checks every configured
/// device before the first model is built, so a missing chip, line or sysfs folder stops the start with a message
/// naming it; <see cref="Attach"/> connects button and LED to the running service.
/// </summary>
public sealed class DeviceServices : IDisposable
{
    private readonly List<GpioController> _controllers = [];
    private readonly GpioLine? _buttonLine;
    private readonly DeviceSettings _settings;
    private readonly TimeProvider _time;
    private ModelRouter? _router;

    public SysfsTelemetry? Telemetry { get; }
    public StatusLed? Led { get; }
    public TaskButton? Button { get; private set; }
    public ButtonTasks? Tasks { get; private set; }
    private GpioController? _buttonController;

    private DeviceServices(DeviceSettings settings, TimeProvider time, Func<GpioLine, GpioController> open)
    {
        (_settings, _time) = (settings, time);
        if (settings.ButtonLongMs < 1) throw new ArgumentException("--button-long-ms must be 1 or more");
        if (settings.ButtonDebounceMs < 0) throw new ArgumentException("--button-debounce-ms must be 0 or more");
        if (settings.ButtonLongMs <= settings.ButtonDebounceMs)
            throw new ArgumentException($"--button-long-ms ({settings.ButtonLongMs}) must be longer than --button-debounce-ms ({settings.ButtonDebounceMs})");
        var button = settings.Button is { } b ? GpioLine.Parse("--button", b) : null;
        var led = settings.Led is { } l ? GpioLine.Parse("--led", l) : null;
        if (button is not null && led is not null && button.Chip == led.Chip && button.Line == led.Line)
            throw new ArgumentException($"--button and --led name the same line {button}");
        try
        {
            if (settings.Telemetry) Telemetry = SysfsTelemetry.Open(settings.SysfsRoot);
            var byChip = new Dictionary<int, GpioController>();
            GpioController Controller(GpioLine line)
            {
                if (!byChip.TryGetValue(line.Chip, out var c)) _controllers.Add(byChip[line.Chip] = c = open(line));
                return c;
            }
            if (led is not null) Led = new StatusLed(Controller(led), led, time);
            if (button is not null)
            {
                _buttonLine = button;
                _buttonController = Controller(button);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Opens what <paramref name="settings"/> names; <paramref name="open"/> makes a line's controller (default: libgpiod on DevDir).</summary>
    public static DeviceServices Open(DeviceSettings settings, TimeProvider? time = null, Func<GpioLine, GpioController>? open = null) =>
        new(settings, time ?? TimeProvider.System, open ?? (line => line.OpenController(settings.DevDir)));

    /// <summary>
    /// Connects the LED to the router's switches (on now) and starts the button (short press: next task, long press:
    /// <paramref name="defaultRecipe"/>).
    /// </summary>
    public void Attach(ModelRouter router, MergeRecipe defaultRecipe)
    {
        _router = router;
        if (Led is { } led)
        {
            led.Set(LedState.On);
            router.Activity += OnActivity;
        }
        if (_buttonLine is { } line && _buttonController is { } controller)
        {
            Tasks = new ButtonTasks(router, defaultRecipe);
            var tasks = Tasks;
            Button = new TaskButton(controller, line, _settings.ButtonActiveHigh, TimeSpan.FromMilliseconds(_settings.ButtonDebounceMs),
                TimeSpan.FromMilliseconds(_settings.ButtonLongMs), p => tasks.Press(p), _time);
        }
    }

    private void OnActivity(RouterActivity a) => Led?.Set(a switch
    {
        RouterActivity.SwitchStarted => LedState.Blinking,
        RouterActivity.SwitchDone or RouterActivity.ReloadDone => LedState.On,
        _ => LedState.Off,
    });

    /// <summary>A line per device for the start-up log.</summary>
    public IEnumerable<string> Describe()
    {
        if (Telemetry is { } t) yield return $"telemetry: {t.ZoneCount} thermal zones, {t.RailCount} ina3221 rails under {t.Root}";
        if (_buttonLine is { } b) yield return $"task button on {b} (active {(_settings.ButtonActiveHigh ? "high" : "low")}, long press {_settings.ButtonLongMs} ms, debounce {_settings.ButtonDebounceMs} ms)";
        if (Led is not null) yield return $"status LED on {GpioLine.Parse("--led", _settings.Led!)}";
    }

    public void Dispose()
    {
        if (_router is not null) _router.Activity -= OnActivity;
        Button?.Dispose();
        Led?.Dispose();
        foreach (var c in _controllers)
        {
            try { c.Dispose(); }
            catch (Exception e) when (e is not OutOfMemoryException) { }
        }
        _controllers.Clear();
    }
}
