using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeTvq.Runtime.Http;

// The JSON objects of the Open Inference Protocol (KServe v2 / Triton HTTP/REST) that edgetvq serve reads and writes.
// Requests are read leniently (unknown members are ignored, as the protocol allows extensions); tensors of an infer
// response are written by InferenceApi with Utf8JsonWriter, everything else through the source-generated context below.

/// <summary>$inference_request.</summary>
public sealed class InferRequestJson
{
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("parameters")] public Dictionary<string, JsonElement>? Parameters { get; set; }
    [JsonPropertyName("inputs")] public List<InferInputJson>? Inputs { get; set; }
    [JsonPropertyName("outputs")] public List<RequestedOutputJson>? Outputs { get; set; }
}

/// <summary>$request_input.</summary>
public sealed class InferInputJson
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("shape")] public long[]? Shape { get; set; }
    [JsonPropertyName("datatype")] public string? Datatype { get; set; }
    [JsonPropertyName("parameters")] public Dictionary<string, JsonElement>? Parameters { get; set; }
    [JsonPropertyName("data")] public JsonElement? Data { get; set; }
}

/// <summary>$request_output.</summary>
public sealed class RequestedOutputJson
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("parameters")] public Dictionary<string, JsonElement>? Parameters { get; set; }
}

/// <summary>$server_metadata_response.</summary>
public sealed class ServerMetadataJson
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("version")] public string Version { get; set; } = "";
    [JsonPropertyName("extensions")] public List<string> Extensions { get; set; } = [];
    /// <summary>serve --telemetry: the board's temperatures and power rails (absent otherwise).</summary>
    [JsonPropertyName("parameters"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ServerParametersJson? Parameters { get; set; }
}

public sealed class ServerParametersJson
{
    [JsonPropertyName("thermal_zones")] public List<ThermalZoneJson> ThermalZones { get; set; } = [];
    [JsonPropertyName("power_rails")] public List<PowerRailJson> PowerRails { get; set; } = [];
}

public sealed class ThermalZoneJson
{
    [JsonPropertyName("zone")] public string Zone { get; set; } = "";
    [JsonPropertyName("sensor")] public string Sensor { get; set; } = "";
    [JsonPropertyName("celsius")] public double Celsius { get; set; }
}

/// <summary>One INA3221 channel; a value that could not be read is absent.</summary>
public sealed class PowerRailJson
{
    [JsonPropertyName("rail")] public string Rail { get; set; } = "";
    [JsonPropertyName("sensor")] public string Sensor { get; set; } = "";
    [JsonPropertyName("channel")] public int Channel { get; set; }
    [JsonPropertyName("volts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Volts { get; set; }
    [JsonPropertyName("amperes"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Amperes { get; set; }
    [JsonPropertyName("watts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Watts { get; set; }
}

/// <summary>$metadata_tensor.</summary>
public sealed class TensorMetadataJson
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("datatype")] public string Datatype { get; set; } = "";
    [JsonPropertyName("shape")] public long[] Shape { get; set; } = [];
}

/// <summary>$metadata_model_response, with the model's labels and the live recipe as parameters.</summary>
public sealed class ModelMetadataJson
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("versions")] public List<string> Versions { get; set; } = [];
    [JsonPropertyName("platform")] public string Platform { get; set; } = "";
    [JsonPropertyName("inputs")] public List<TensorMetadataJson> Inputs { get; set; } = [];
    [JsonPropertyName("outputs")] public List<TensorMetadataJson> Outputs { get; set; } = [];
    [JsonPropertyName("parameters")] public ModelParametersJson? Parameters { get; set; }
}

public sealed class ModelParametersJson
{
    [JsonPropertyName("labels"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Labels { get; set; }
    [JsonPropertyName("loaded")] public bool Loaded { get; set; }
    [JsonPropertyName("recipe")] public string Recipe { get; set; } = "";
    [JsonPropertyName("bundle_generation")] public string BundleGeneration { get; set; } = "";
}

/// <summary>One row of the repository index (model repository extension).</summary>
public sealed class RepositoryIndexEntryJson
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("version")] public string Version { get; set; } = "";
    [JsonPropertyName("state")] public string State { get; set; } = "";
    [JsonPropertyName("reason")] public string Reason { get; set; } = "";
}

/// <summary>The body of POST /v2/repository/index.</summary>
public sealed class RepositoryIndexRequestJson
{
    [JsonPropertyName("ready")] public bool? Ready { get; set; }
}

/// <summary>The answer to a load or unload: what is served now and how long the switch took.</summary>
public sealed class LoadResponseJson
{
    [JsonPropertyName("model_name")] public string ModelName { get; set; } = "";
    [JsonPropertyName("recipe")] public string Recipe { get; set; } = "";
    [JsonPropertyName("bundle_generation")] public string BundleGeneration { get; set; } = "";
    [JsonPropertyName("switched")] public bool Switched { get; set; }
    [JsonPropertyName("merge_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? MergeMs { get; set; }
    [JsonPropertyName("session_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SessionMs { get; set; }
    [JsonPropertyName("total_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? TotalMs { get; set; }
}

/// <summary>Every error: {"error": "what is wrong"}.</summary>
public sealed class ErrorJson
{
    [JsonPropertyName("error")] public string Error { get; set; } = "";
}

[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false, MaxDepth = 64,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(InferRequestJson))]
[JsonSerializable(typeof(ServerMetadataJson))]
[JsonSerializable(typeof(ModelMetadataJson))]
[JsonSerializable(typeof(List<RepositoryIndexEntryJson>))]
[JsonSerializable(typeof(RepositoryIndexEntryJson))]
[JsonSerializable(typeof(RepositoryIndexRequestJson))]
[JsonSerializable(typeof(LoadResponseJson))]
[JsonSerializable(typeof(ErrorJson))]
internal sealed partial class OipJsonContext : JsonSerializerContext;
