using System.Device.Gpio;

namespace EdgeTvq.Runtime.Device;

/// <summary>
/// The task button on a GPIO line: its edges (libgpiod events, through <see cref="GpioController"/>) go through a
/// <see cref="PressDetector"/>, and every completed press is handed to <c>onPress</c> on a timer thread. Time comes
/// from a <see cref="TimeProvider"/> (the tests drive a manual one). Active low by default (a button to ground, the
/// line pulled up: the pull-up is requested where the driver supports it; otherwise fit an external resistor).
/// </summary>
public sealed class TaskButton : IDisposable
{
    private readonly GpioController _controller;
    private readonly int _line;
    private readonly bool _activeHigh;
    private readonly PressDetector _detector;
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly ITimer _timer;
    private readonly Action<ButtonPress> _onPress;
    private readonly Lock _lock = new();
    private bool _disposed;

    public TaskButton(GpioController controller, GpioLine line, bool activeHigh, TimeSpan debounce, TimeSpan longPress, Action<ButtonPress> onPress, TimeProvider? time = null)
    {
        (_controller, _line, _activeHigh, _onPress) = (controller, line.Line, activeHigh, onPress);
        _time = time ?? TimeProvider.System;
        _start = _time.GetTimestamp();
        var pull = activeHigh ? PinMode.InputPullDown : PinMode.InputPullUp;
        bool supported;
        try { supported = controller.IsPinModeSupported(line.Line, pull); }
        catch (Exception e) when (e is not OutOfMemoryException) { supported = false; }
        line.Open(controller, supported ? pull : PinMode.Input);
        _detector = new PressDetector(debounce, longPress, pressedAtStart: IsPressed(controller.Read(_line)));
        _timer = _time.CreateTimer(_ => Poll(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        controller.RegisterCallbackForPinValueChangedEvent(_line, PinEventTypes.Rising | PinEventTypes.Falling, OnEdge);
    }

    /// <summary>The debounced state of the button.</summary>
    public bool Pressed { get { lock (_lock) return _detector.Pressed; } }

    private bool IsPressed(PinValue v) => (v == PinValue.High) == _activeHigh;

    private void OnEdge(object sender, PinValueChangedEventArgs e)
    {
        ButtonPress? press;
        lock (_lock)
        {
            if (_disposed) return;
            press = _detector.Edge(IsPressed(e.ChangeType == PinEventTypes.Rising ? PinValue.High : PinValue.Low), Now);
            Schedule();
        }
        if (press is { } p) _onPress(p);
    }

    private TimeSpan Now => _time.GetElapsedTime(_start);

    /// <summary>Settles whatever is due now (the timer calls it when <see cref="PressDetector.NextDue"/> comes).</summary>
    internal void Poll()
    {
        ButtonPress? press;
        lock (_lock)
        {
            if (_disposed) return;
            press = _detector.Poll(Now);
            Schedule();
        }
        if (press is { } p) _onPress(p);
    }

    private void Schedule()
    {
        if (_detector.NextDue is { } due)
        {
            var wait = due - Now;
            _timer.Change(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
        }
        else _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }
        _timer.Dispose();
        try { _controller.UnregisterCallbackForPinValueChangedEvent(_line, OnEdge); }
        catch (Exception e) when (e is not OutOfMemoryException) { }
    }
}
