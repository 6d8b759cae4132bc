using System.Text.Json.Serialization;

namespace EdgeTvq.Bundle;

/// <summary>The paper authors' quantize_config.json, accepted by <c>edgetvq-pack pack --config</c>.</summary>
public sealed class QuantizeConfig
{
    /// <summary>"finetuned_model" (FQ) or "task_vector" (TVQ / RTVQ).</summary>
    [JsonPropertyName("quantize_target")] public string? QuantizeTarget { get; set; }
    /// <summary>true: RTVQ.</summary>
    [JsonPropertyName("quantize_residual")] public bool? QuantizeResidual { get; set; }
    /// <summary>Bits of the task vector, the RTVQ offset, or the fine-tuned model.</summary>
    [JsonPropertyName("quantize_task_bit")] public int? QuantizeTaskBit { get; set; }
    [JsonPropertyName("quantize_base_bit")] public int? QuantizeBaseBit { get; set; }
    [JsonPropertyName("q_error_correction")] public bool? QErrorCorrection { get; set; }
}
