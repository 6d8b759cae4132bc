using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Globalization;

namespace EdgeTvq.Runtime.Device;

/// <summary>A GPIO line as the command line names it: <c>gpiochipN:LINE</c> (or <c>N:LINE</c>), the line offset within the chip.</summary>
public sealed record GpioLine(string Option, int Chip, int Line)
{
    public string ChipName => $"gpiochip{Chip}";
    public override string ToString() => $"{ChipName}:{Line.ToString(CultureInfo.InvariantCulture)}";

    public static GpioLine Parse(string option, string text)
    {
        int colon = text.LastIndexOf(':');
        string chip = colon < 0 ? "" : text[..colon], line = colon < 0 ? "" : text[(colon + 1)..];
        if (chip.StartsWith("gpiochip", StringComparison.Ordinal)) chip = chip["gpiochip".Length..];
        if (!int.TryParse(chip, NumberStyles.None, CultureInfo.InvariantCulture, out var c) || !int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var l))
            throw new ArgumentException($"{option} '{text}': give CHIP:LINE, e.g. gpiochip0:17 (the chip's device /dev/gpiochipN and the line offset on it; `gpioinfo` lists them)");
        return new GpioLine(option, c, l);
    }

    /// <summary>
    /// Opens a controller for this line's chip over libgpiod (System.Device.Gpio's <see cref="LibGpiodDriver"/>). A
    /// missing chip device, a missing libgpiod or a chip that cannot be opened is an <see cref="IOException"/> naming
    /// the option and the path.
    /// </summary>
    public GpioController OpenController(string devDir = "/dev")
    {
        string device = Path.Combine(devDir, ChipName);
        if (!File.Exists(device))
        {
            var present = Directory.Exists(devDir) ? Directory.GetFiles(devDir, "gpiochip*").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList() : [];
            throw new IOException($"{Option} {this}: {device} does not exist ({(present.Count > 0 ? "this machine has " + string.Join(", ", present) : "this machine has no GPIO chip device")})");
        }
        try
        {
            return new GpioController(new LibGpiodDriver(Chip));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new IOException($"{Option} {this}: cannot open {device} through libgpiod ({e.GetType().Name}: {e.Message}); " +
                                  "is libgpiod installed (apt install libgpiod2) and may this user open the device (group gpio, or DeviceAllow= in the unit)?", e);
        }
    }

    /// <summary>Opens the line on <paramref name="controller"/>, naming the option and line in any failure.</summary>
    public void Open(GpioController controller, PinMode mode, PinValue? initial = null)
    {
        try
        {
            if (initial is { } v) controller.OpenPin(Line, mode, v);
            else controller.OpenPin(Line, mode);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new IOException($"{Option} {this}: cannot open line {Line} of {ChipName} as {mode} ({e.GetType().Name}: {e.Message}); is it in use (gpioinfo)?", e);
        }
    }
}
