using System.Device.Gpio;

namespace EdgeTvq.Runtime.Device;

public enum LedState { Off, On, Blinking }

/// <summary>
/// The status LED on a GPIO output line (active high: the line drives the LED through a resistor to ground).
/// <see cref="LedState.On"/> while the service serves, <see cref="LedState.Blinking"/> (on and off every
/// <c>BlinkHalfPeriod</c>) while a switch runs, <see cref="LedState.Off"/> after a failed switch or a refused bundle
/// generation (the service still serves the previous model; the journal says what failed) until the next switch
/// succeeds, and when the service stops.
/// </summary>
public sealed class StatusLed : IDisposable
{
    public static readonly TimeSpan BlinkHalfPeriod = TimeSpan.FromMilliseconds(250);

    private readonly GpioController _controller;
    private readonly int _line;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private bool _lit, _disposed;

    public LedState State { get; private set; } = LedState.Off;
    /// <summary>Raised on every change of <see cref="State"/>, under the LED's lock.</summary>
    public event Action<LedState>? Changed;
    /// <summary>Whether the LED is lit now (blinking alternates it).</summary>
    public bool Lit { get { lock (_lock) return _lit; } }

    public StatusLed(GpioController controller, GpioLine line, TimeProvider? time = null)
    {
        (_controller, _line) = (controller, line.Line);
        line.Open(controller, PinMode.Output, PinValue.Low);
        _timer = (time ?? TimeProvider.System).CreateTimer(_ => Toggle(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public void Set(LedState state)
    {
        lock (_lock)
        {
            if (_disposed || state == State) return;
            State = state;
            Changed?.Invoke(state);
            Write(state != LedState.Off);
            if (state == LedState.Blinking) _timer.Change(BlinkHalfPeriod, BlinkHalfPeriod);
            else _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void Toggle()
    {
        lock (_lock)
            if (!_disposed && State == LedState.Blinking) Write(!_lit);
    }

    private void Write(bool lit)
    {
        _lit = lit;
        try { _controller.Write(_line, lit ? PinValue.High : PinValue.Low); }
        catch (Exception e) when (e is not OutOfMemoryException) { Console.Error.WriteLine($"warning: status LED: {e.Message}"); }
    }

    /// <summary>Turns the LED off and stops blinking.</summary>
    public void Dispose()
    {
        Set(LedState.Off);
        lock (_lock) _disposed = true;
        _timer.Dispose();
    }
}
