// A still life for artcheck's bundled "human 3D render" sample (MIT, written for this project).
// Render: povray +Iscripts/scenes/still_life.pov +O/tmp/render.png +W512 +H512 +A0.1 +R3 -D
#version 3.7;
global_settings { assumed_gamma 1.0 max_trace_level 8 }
#include "colors.inc"
#include "textures.inc"
#include "metals.inc"
#include "glass.inc"
#include "woods.inc"

camera { location <0, 2.2, -6.2> look_at <0, 0.8, 0> angle 42 }
light_source { <-4, 7, -5> color rgb <1.0, 0.96, 0.9> * 1.1
  area_light <1.5, 0, 0>, <0, 0, 1.5>, 5, 5 adaptive 1 jitter }
light_source { <5, 3, -3> color rgb <0.35, 0.4, 0.5> shadowless }
sky_sphere { pigment { gradient y color_map { [0 rgb <0.75, 0.78, 0.82>] [1 rgb <0.35, 0.45, 0.6>] } } }

plane { y, 0 pigment { checker color rgb <0.85, 0.82, 0.76> color rgb <0.25, 0.22, 0.2> scale 0.8 }
  finish { reflection 0.12 diffuse 0.8 } }
box { <-3.2, 0, 0.6>, <-1.2, 1.1, 2.2> texture { T_Wood10 scale 0.6 rotate <0, 30, 0> } rotate <0, 18, 0> }
sphere { <0.1, 0.85, 0.2>, 0.85 material { texture { pigment { rgbf <0.92, 0.97, 1, 0.92> }
  finish { reflection 0.08 specular 0.8 roughness 0.002 } } interior { ior 1.45 fade_distance 2 fade_power 2 } } }
torus { 0.55, 0.18 rotate <70, -25, 0> translate <1.9, 0.62, -0.2> texture { T_Gold_3C } }
cylinder { <-1.35, 0, -0.9>, <-1.35, 1.4, -0.9>, 0.32 pigment { color rgb <0.55, 0.12, 0.1> }
  finish { specular 0.4 roughness 0.02 diffuse 0.75 } }
cone { <2.4, 0, 1.6>, 0.55, <2.4, 1.7, 1.6>, 0.0 pigment { color rgb <0.15, 0.35, 0.55> } finish { phong 0.6 } }
