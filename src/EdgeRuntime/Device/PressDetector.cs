namespace EdgeTvq.Runtime.Device;

public enum ButtonPress { Short, Long }

/// <summary>
/// Turns a button's raw edges into presses, with no clock or thread of its own: the caller passes the time of every
/// edge (<see cref="Edge"/>) and polls (<see cref="Poll"/>) when <see cref="NextDue"/> says.
/// <list type="bullet">
/// <item>Debounce: a level counts once the line has been quiet for the debounce window after its last edge; the
/// change is dated at the first edge of the burst. A burst that ends on the level it started from is a glitch and
/// ignored.</item>
/// <item>A press held for the long-press time is a <see cref="ButtonPress.Long"/> at that moment (without waiting for
/// the release; the release then reports nothing); a press released earlier is a <see cref="ButtonPress.Short"/> when
/// its release settles.</item>
/// </list>
/// Not thread-safe: <see cref="TaskButton"/> calls it under a lock.
/// </summary>
public sealed class PressDetector
{
    private readonly TimeSpan _debounce, _long;
    private bool _pressed, _longReported;
    private bool? _pending;
    private TimeSpan _burstStart, _lastEdge, _pressedAt;

    public PressDetector(TimeSpan debounce, TimeSpan longPress, bool pressedAtStart = false)
    {
        if (debounce < TimeSpan.Zero) throw new ArgumentException("--button-debounce-ms must be 0 or more");
        if (longPress <= debounce) throw new ArgumentException($"--button-long-ms ({longPress.TotalMilliseconds:F0}) must be longer than the debounce window ({debounce.TotalMilliseconds:F0} ms)");
        (_debounce, _long) = (debounce, longPress);
        // A button already held when the service starts reports nothing until it has been released.
        (_pressed, _longReported) = (pressedAtStart, pressedAtStart);
    }

    /// <summary>The debounced level.</summary>
    public bool Pressed => _pressed;

    /// <summary>
    /// A raw edge: the line is now <paramref name="pressed"/>, at <paramref name="at"/>. A pending level that had already
    /// been quiet for the window is settled first (as a poll in between would have), so the result does not depend on
    /// how punctually the caller polls; that may complete a press, which is returned.
    /// </summary>
    public ButtonPress? Edge(bool pressed, TimeSpan at)
    {
        ButtonPress? settled = _pending is not null && at - _lastEdge >= _debounce ? Poll(at) : null;
        if (_pending is null) _burstStart = at;
        _pending = pressed;
        _lastEdge = at;
        return settled;
    }

    /// <summary>When <see cref="Poll"/> next has something to decide, or null when nothing is pending.</summary>
    public TimeSpan? NextDue =>
        _pending is not null ? _lastEdge + _debounce
        : _pressed && !_longReported ? _pressedAt + _long
        : null;

    /// <summary>Settles what is due at <paramref name="now"/>; a press when one completed.</summary>
    public ButtonPress? Poll(TimeSpan now)
    {
        if (_pending is { } level)
        {
            if (now - _lastEdge < _debounce) return null; // still bouncing
            _pending = null;
            if (level != _pressed)
            {
                _pressed = level;
                if (level)
                {
                    _pressedAt = _burstStart;
                    _longReported = false;
                }
                else if (!_longReported)
                {
                    _longReported = true;
                    return _burstStart - _pressedAt >= _long ? ButtonPress.Long : ButtonPress.Short;
                }
            }
        }
        if (_pressed && !_longReported && now - _pressedAt >= _long)
        {
            _longReported = true;
            return ButtonPress.Long;
        }
        return null;
    }
}
