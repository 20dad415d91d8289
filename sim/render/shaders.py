"""GLSL 3.30 core sources: the shadow pass and the endoscope shading pass.

Lighting happens in the world frame, in linear colour (base colours are linearised on the
CPU with gamma 2, and the output is encoded with gamma 2 again: a square root, cheaper
than sRGB's curve on a software rasteriser and within a few levels of it). One spot light
at the scope tip with inverse-square fall-off, a cone fall-off towards the image edge, Blinn-Phong
highlights, a shadow map seen from the light (one hardware-filtered 2x2 lookup), optional
vignetting, and procedural tissue mottling / board grain from the object-frame position.
"""

SHADOW_VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_position;
uniform mat4 u_model;
uniform mat4 u_light_view_proj;
void main() {
    gl_Position = u_light_view_proj * (u_model * vec4(a_position, 1.0));
}
"""

SHADOW_FRAGMENT = """
#version 330 core
void main() {}
"""

VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec3 a_normal;
uniform mat4 u_model;
uniform mat4 u_view_proj;
uniform mat4 u_light_view_proj;
uniform float u_normal_offset;  // m: shadow lookup moved off the surface (no acne)
out vec3 v_world;
out vec3 v_normal;
out vec3 v_object;
out vec4 v_light_clip;
void main() {
    vec4 world = u_model * vec4(a_position, 1.0);
    v_world = world.xyz;
    v_normal = mat3(u_model) * a_normal;  // rigid poses: no inverse transpose needed
    v_object = a_position;
    v_light_clip = u_light_view_proj * vec4(world.xyz + normalize(v_normal) * u_normal_offset, 1.0);
    gl_Position = u_view_proj * world;
}
"""

FRAGMENT = """
#version 330 core
in vec3 v_world;
in vec3 v_normal;
in vec3 v_object;
in vec4 v_light_clip;
out vec4 o_color;

uniform vec3 u_eye;             // camera position (world)
uniform vec3 u_light;           // light outlet (world)
uniform vec3 u_light_axis;      // unit spot axis (world)
uniform float u_spot_falloff;   // spot = 1 - falloff * sin(angle)^2
uniform float u_reference_d2;   // squared distance where the gain is 1
uniform float u_max_gain;
uniform float u_ambient;
uniform sampler2DShadow u_shadow_map;
uniform float u_shadow_contrast; // share of the light a shadow takes away
uniform vec2 u_viewport;        // pixels
uniform float u_vignette;       // 0: none, 1: black corners

uniform mat4 u_model;           // the node's pose (bump gradients to the world frame)
uniform vec3 u_albedo;          // linear base colour
uniform vec4 u_material;        // diffuse, specular, shininess, metallic
uniform vec3 u_tint;            // highlight colour: white, or the base hue for metals
uniform int u_pattern;          // 0 none, 1 tissue, 2 grain

float hash(vec3 p) {
    p = fract(p * 0.3183099 + vec3(0.71, 0.113, 0.419));
    p *= 17.0;
    return fract(p.x * p.y * p.z * (p.x + p.y + p.z));
}

// Value noise with its analytic gradient: (n(x), dn/dx) from one evaluation (eight
// hashes), where central differences took six evaluations per octave.
vec4 noised(vec3 x) {
    vec3 i = floor(x);
    vec3 f = fract(x);
    vec3 u = f * f * (3.0 - 2.0 * f);
    vec3 du = 6.0 * f * (1.0 - f);
    float a = hash(i);
    float b = hash(i + vec3(1, 0, 0));
    float c = hash(i + vec3(0, 1, 0));
    float d = hash(i + vec3(1, 1, 0));
    float e = hash(i + vec3(0, 0, 1));
    float f1 = hash(i + vec3(1, 0, 1));
    float g = hash(i + vec3(0, 1, 1));
    float h = hash(i + vec3(1, 1, 1));
    float k1 = b - a, k2 = c - a, k3 = e - a, k4 = a - b - c + d;
    float k5 = a - c - e + g, k6 = a - b - e + f1, k7 = -a + b + c - d + e - f1 - g + h;
    float n = a + k1 * u.x + k2 * u.y + k3 * u.z + k4 * u.x * u.y + k5 * u.y * u.z
            + k6 * u.z * u.x + k7 * u.x * u.y * u.z;
    vec3 grad = du * vec3(k1 + k4 * u.y + k6 * u.z + k7 * u.y * u.z,
                          k2 + k5 * u.z + k4 * u.x + k7 * u.z * u.x,
                          k3 + k6 * u.x + k5 * u.y + k7 * u.x * u.y);
    return vec4(n, grad);
}

float noise(vec3 x) {
    return noised(x).x;
}

// A wet, bumpy surface: tilt N by the gradient of a height field (m) built from value
// noise in the node frame (so it sticks to the surface):
// h(p) = 2.5e-4 n(450 p) + 1e-4 n(1300 p + 5), its gradient per metre analytic.
vec3 bumped(vec3 N) {
    vec3 g = (2.5e-4 * 450.0) * noised(v_object * 450.0).yzw
           + (1.0e-4 * 1300.0) * noised(v_object * 1300.0 + 5.0).yzw;
    g = mat3(u_model) * g;       // to the world frame
    g -= N * dot(N, g);          // along the surface only
    return normalize(N - g);
}

float shadow_factor() {
    // one hardware-filtered lookup: the comparison is bilinear over 2x2 texels (PCF);
    // outside the map the border (depth 1) leaves the point lit. Every visible point lies
    // in front of the light (it sits beside the lens), so w > 0.
    return textureProj(u_shadow_map, v_light_clip * vec4(0.5, 0.5, 0.5, 1.0)
                                     + vec4(0.5, 0.5, 0.5, 0.0) * v_light_clip.w);
}

void main() {
    vec3 V = normalize(u_eye - v_world);
    vec3 N = normalize(v_normal);
    if (dot(N, V) < 0.0) N = -N;  // two-sided: thin parts and open meshes
    vec3 to_light = u_light - v_world;
    float d2 = dot(to_light, to_light);
    vec3 L = to_light * inversesqrt(d2);

    vec3 albedo = u_albedo;
    float specular = u_material.y;
    if (u_pattern == 1) {
        // mottled colour, and a bumpy wet surface that breaks the highlight into glints
        float m = noise(v_object * 180.0) * 0.65 + noise(v_object * 700.0) * 0.35;
        albedo *= vec3(0.78 + 0.42 * m, 0.80 + 0.30 * m, 0.80 + 0.30 * m);
        N = bumped(N);
    } else if (u_pattern == 2) {
        albedo *= 0.9 + 0.2 * noise(v_object * 2500.0);
    }

    float gain = min(u_reference_d2 / d2, u_max_gain);
    float c = max(dot(-L, u_light_axis), 0.0);
    float spot = max(1.0 - u_spot_falloff * (1.0 - c * c), 0.0);
    float lit = gain * spot;
    float shadow = 1.0 - u_shadow_contrast * (1.0 - shadow_factor());

    float ndl = max(dot(N, L), 0.0);
    vec3 H = normalize(L + V);
    float highlight = ndl > 0.0 ? pow(max(dot(N, H), 0.0), u_material.z) * specular : 0.0;
    vec3 color = lit * shadow * (albedo * u_material.x * ndl + u_tint * highlight)
               + lit * u_ambient * albedo;

    if (u_vignette > 0.0) {
        vec2 c = gl_FragCoord.xy / u_viewport - 0.5;
        c.x *= u_viewport.x / u_viewport.y;
        float r = length(c) / length(vec2(0.5 * u_viewport.x / u_viewport.y, 0.5));
        color *= 1.0 - u_vignette * smoothstep(0.55, 1.0, r);
    }
    o_color = vec4(sqrt(clamp(color, 0.0, 1.0)), 1.0);  // gamma 2 encoding
}
"""
