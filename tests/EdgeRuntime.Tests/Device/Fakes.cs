using System.Device.Gpio;

namespace EdgeTvq.Runtime.Tests.Device;

/// <summary>A clock that moves only when a test advances it; its timers fire, in due order, inside <see cref="Advance"/>.</summary>
public sealed class ManualTime : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() { lock (_lock) return _ticks; }
    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(GetTimestamp());

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var t = new ManualTimer(this, callback, state);
        lock (_lock) _timers.Add(t);
        t.Change(dueTime, period);
        return t;
    }

    public void Advance(TimeSpan by) => AdvanceTo(TimeSpan.FromTicks(GetTimestamp()) + by);

    public void AdvanceMs(double ms) => Advance(TimeSpan.FromMilliseconds(ms));

    /// <summary>Moves the clock to <paramref name="to"/>, firing every timer due on the way at its due time.</summary>
    public void AdvanceTo(TimeSpan to)
    {
        while (true)
        {
            ManualTimer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.Due is { } d && d <= to.Ticks).MinBy(t => t.Due);
                if (next is null) { _ticks = Math.Max(_ticks, to.Ticks); return; }
                _ticks = Math.Max(_ticks, next.Due!.Value);
                next.Due = next.Period is { } p ? next.Due + p : null;
            }
            next.Fire();
        }
    }

    private sealed class ManualTimer(ManualTime owner, TimerCallback callback, object? state) : ITimer
    {
        public long? Due { get; set; }
        public long? Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._ticks + dueTime.Ticks;
                Period = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? null : period.Ticks;
            }
            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (owner._lock) owner._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>A GPIO chip in memory: lines hold values, tests drive input edges and read what was written.</summary>
public sealed class FakeGpioDriver : GpioDriver
{
    private readonly Dictionary<int, PinValue> _values = [];
    private readonly Dictionary<int, PinMode> _modes = [];
    private readonly Dictionary<int, List<PinChangeEventHandler>> _callbacks = [];
    public List<(int Pin, PinValue Value)> Writes { get; } = [];
    public bool SupportsPull { get; init; } = true;

    protected override int PinCount => 64;

    protected override void OpenPin(int pinNumber) => _values.TryAdd(pinNumber, PinValue.High);
    protected override void ClosePin(int pinNumber) => _values.Remove(pinNumber);
    protected override void SetPinMode(int pinNumber, PinMode mode) => _modes[pinNumber] = mode;
    protected override PinMode GetPinMode(int pinNumber) => _modes.GetValueOrDefault(pinNumber, PinMode.Input);
    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => SupportsPull || mode is PinMode.Input or PinMode.Output;
    protected override PinValue Read(int pinNumber) => _values.GetValueOrDefault(pinNumber, PinValue.High);
    protected override void Write(int pinNumber, PinValue value)
    {
        _values[pinNumber] = value;
        Writes.Add((pinNumber, value));
    }
    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) => throw new NotSupportedException();
    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        if (!_callbacks.TryGetValue(pinNumber, out var list)) _callbacks[pinNumber] = list = [];
        list.Add(callback);
    }
    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback) => _callbacks.GetValueOrDefault(pinNumber)?.Remove(callback);

    public PinMode ModeOf(int pin) => _modes[pin];
    public PinValue ValueOf(int pin) => _values[pin];

    /// <summary>The line changes to <paramref name="value"/> (an edge, if it differs from the present value).</summary>
    public void Drive(int pin, PinValue value)
    {
        if (_values.GetValueOrDefault(pin, PinValue.High) == value) return;
        _values[pin] = value;
        foreach (var cb in _callbacks.GetValueOrDefault(pin)?.ToList() ?? [])
            cb(this, new PinValueChangedEventArgs(value == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling, pin));
    }
}
